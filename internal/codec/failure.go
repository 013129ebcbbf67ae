package codec

import (
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// NewFailureConverter returns the failure converter every keyrotor client
// uses with dc (the codec data converter). Temporal stores an error's
// message and stack trace in clear unless the failure converter encodes
// them: with EncodeCommonAttributes they travel as one payload through dc,
// so history shows "Encoded failure" and the encrypted attributes. Error
// messages are redacted at the source already; this keeps the names of
// users, keys and targets in failures off the server too.
func NewFailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}
