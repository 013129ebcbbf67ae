package keyfind

import (
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Holder is one target of the key's rotation and what is known of the key
// there.
type Holder struct {
	Target string `json:"target"`
	// Holds is false where the running rotation has replaced the key.
	Holds bool   `json:"holds"`
	Note  string `json:"note,omitempty"`
}

// Holders lists the rotation's targets, which are configured to hold the
// user's key. st is the status of the rotation running now (nil when none
// runs): a target that confirmed the new key no longer holds the old one,
// and the new key is only where it was confirmed.
func Holders(r model.Rotation, st *contract.Status, keyID string) []Holder {
	byTarget := map[string]contract.TargetStatus{}
	if st != nil {
		for _, t := range st.Targets {
			byTarget[t.Target] = t
		}
	}
	out := make([]Holder, 0, len(r.Targets))
	for _, t := range r.Targets {
		h := Holder{Target: t.String(), Holds: true}
		ts, known := byTarget[h.Target]
		switch {
		case st == nil || !known || keyID != st.OldKeyID && keyID != st.NewKeyID:
		case keyID == st.OldKeyID && ts.State == contract.TargetConfirmed:
			h.Holds, h.Note = false, "replaced: confirmed the new key "+st.NewKeyID
		case keyID == st.OldKeyID:
			h.Note = "still on it: the new key is " + string(ts.State)
		case ts.State == contract.TargetConfirmed:
			h.Note = "confirmed it (it is the rotation's new key)"
		default:
			h.Holds, h.Note = false, "not confirmed: "+string(ts.State)
		}
		out = append(out, h)
	}
	return out
}
