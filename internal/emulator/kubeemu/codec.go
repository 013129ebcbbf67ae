package kubeemu

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// codecs serves the media types the API server serves for built-in types:
// JSON, YAML and protobuf.
var codecs = func() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(appsv1.AddToScheme(scheme))
	return serializer.NewCodecFactory(scheme)
}()

var statusGVK = schema.GroupVersionKind{Version: "v1", Kind: "Status"}

// supportedMediaTypes lists the media types a body may be sent in.
func supportedMediaTypes() []string {
	var out []string
	for _, info := range codecs.SupportedMediaTypes() {
		out = append(out, info.MediaType)
	}
	return out
}

// decodeBody decodes a create or update body sent as contentType into a
// new object of res. Its errors never quote the body.
func decodeBody(res *resource, contentType string, body []byte) (object, error) {
	info, err := inputSerializer(contentType)
	if err != nil {
		return nil, err
	}
	want := res.gvk()
	obj, gvk, err := info.Serializer.Decode(body, &want, res.new())
	if err != nil {
		if gvk != nil && gvk.Kind != "" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: the body could not be decoded", gvk.Kind, gvk.Version, res.kind))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): the body could not be decoded", res.kind))
	}
	if gvk.GroupVersion() != want.GroupVersion() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), want.GroupVersion()))
	}
	o, ok := obj.(object)
	if !ok || gvk.Kind != res.kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: no kind %q is registered for the %s resource", gvk.Kind, gvk.Version, res.kind, gvk.Kind, res.plural))
	}
	res.normalize(o)
	return o, nil
}

// decodeOptions decodes a body holding options (DeleteOptions) into into.
func decodeOptions(contentType string, body []byte, into runtime.Object) error {
	info, err := inputSerializer(contentType)
	if err != nil {
		return err
	}
	gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
	if _, _, err := info.Serializer.Decode(body, &gvk, into); err != nil {
		return apierrors.NewBadRequest("the options in the body could not be decoded")
	}
	return nil
}

func inputSerializer(contentType string) (runtime.SerializerInfo, error) {
	mediaType := runtime.ContentTypeJSON
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return runtime.SerializerInfo{}, unsupportedMediaType(supportedMediaTypes())
		}
		mediaType = mt
	}
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		return runtime.SerializerInfo{}, unsupportedMediaType(supportedMediaTypes())
	}
	return info, nil
}

func unsupportedMediaType(accepted []string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: "the body of the request was in an unknown format - accepted media types include: " + strings.Join(accepted, ", "),
	}}
}

// outputSerializer picks the first media type in the request's Accept
// header that the emulator serves, as the API server does; JSON when the
// header is absent or says */*.
func outputSerializer(r *http.Request) (runtime.SerializerInfo, bool) {
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		accept = runtime.ContentTypeJSON
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["as"] != "" { // no Table or PartialObjectMetadata
			continue
		}
		if mt == "*/*" || mt == "application/*" {
			mt = runtime.ContentTypeJSON
		}
		if info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mt); ok {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

// writeObject encodes obj (whose apiVersion and kind must be set) in the
// negotiated media type.
func writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	info, ok := outputSerializer(r)
	if !ok {
		info, _ = runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
		code = http.StatusNotAcceptable
		obj = statusOf(&apierrors.StatusError{ErrStatus: metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusNotAcceptable,
			Reason:  metav1.StatusReasonNotAcceptable,
			Message: "406: Not Acceptable\n\nAvailable representations: " + strings.Join(supportedMediaTypes(), ", "),
			Details: &metav1.StatusDetails{},
		}})
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = info.Serializer.Encode(obj, w)
}

// writeError answers with err as a metav1.Status.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := statusOf(err)
	writeObject(w, r, int(st.Code), st)
}

func statusOf(err error) *metav1.Status {
	var se apierrors.APIStatus
	var st metav1.Status
	if errors.As(err, &se) {
		st = se.Status()
	} else {
		// As the API server answers an error its storage did not convert.
		st = metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: err.Error()}
	}
	st.TypeMeta = metav1.TypeMeta{APIVersion: statusGVK.Version, Kind: statusGVK.Kind}
	return &st
}

// messageOf is err's Status message.
func messageOf(err error) string { return statusOf(err).Message }
