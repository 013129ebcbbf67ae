package kubeemu

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxJSONPatchOperations is the API server's limit on a JSON patch.
const maxJSONPatchOperations = 10000

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType
	}
	return mt
}

// patch is the PATCH handler: the patch is applied to the current object's
// JSON with the libraries the API server uses, and the result is updated
// as a PUT would be, its resourceVersion (the current one unless the patch
// sets it) checked the same way. Callers hold mu.
func (e *Emulator) patch(res *resource, namespace, name string, pt types.PatchType, patch []byte, dryRun bool) (object, error) {
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	default:
		// Server-side apply (application/apply-patch+yaml) is not emulated.
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
			Reason: metav1.StatusReasonUnsupportedMediaType, Message: "415: Unsupported Media Type",
			Details: &metav1.StatusDetails{},
		}}
	}
	en, ok := e.objects[key{res.plural, namespace, name}]
	if !ok {
		return nil, apierrors.NewNotFound(res.gr(), name)
	}
	e.advance(en)
	current, err := json.Marshal(res.withKind(en.obj))
	if err != nil {
		return nil, err
	}
	patched, err := applyPatch(res, pt, current, patch)
	if err != nil {
		return nil, err
	}
	want := res.gvk()
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	decoded, gvk, err := info.Serializer.Decode(patched, &want, res.new())
	obj, ok := decoded.(object)
	if err != nil || !ok || *gvk != want {
		// The API server quotes the whole patched object here; a Secret's
		// data must not appear in an error.
		return nil, apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{
			field.Invalid(field.NewPath("patch"), redacted, "the patched object is not a valid "+res.kind),
		})
	}
	res.normalize(obj)
	if err := checkName(obj, name, namespace); err != nil {
		return nil, err
	}
	return e.update(res, namespace, name, obj, dryRun)
}

// applyPatch returns current with patch applied. Its errors never quote
// the patch or the object.
func applyPatch(res *resource, pt types.PatchType, current, patch []byte) ([]byte, error) {
	if !json.Valid(patch) {
		return nil, apierrors.NewBadRequest("error decoding patch: the patch is not valid JSON")
	}
	switch pt {
	case types.JSONPatchType:
		ops, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest("error decoding patch: the patch is not a list of JSON patch operations")
		}
		if len(ops) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError("The allowed maximum operations in a JSON patch is 10000")
		}
		out, err := ops.Apply(current)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", "", 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(current, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(jsonpatch.ErrBadJSONPatch.Error())
		}
		return out, nil
	default:
		out, err := strategicpatch.StrategicMergePatch(current, patch, res.new())
		switch {
		case err == nil:
			return out, nil
		case errors.Is(err, mergepatch.ErrBadJSONDoc), errors.Is(err, mergepatch.ErrBadPatchFormatForPrimitiveList),
			errors.Is(err, mergepatch.ErrBadPatchFormatForRetainKeys), errors.Is(err, mergepatch.ErrBadPatchFormatForSetElementOrderList),
			errors.Is(err, mergepatch.ErrUnsupportedStrategicMergePatchFormat):
			return nil, apierrors.NewBadRequest(err.Error())
		case errors.Is(err, mergepatch.ErrNoListOfLists), errors.Is(err, mergepatch.ErrPatchContentNotMatchRetainKeys):
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", "", 0, false)
		default:
			// Other errors of the library may print the patch.
			return nil, apierrors.NewBadRequest("the strategic merge patch could not be applied")
		}
	}
}
