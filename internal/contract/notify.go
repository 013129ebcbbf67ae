package contract

import (
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// NotifyWorkflowName is the workflow that delivers one rotation event to its
// channels. A rotation starts one per event, as an abandoned child, so that
// a receiver that is down neither fails nor delays the rotation, and the
// event is sent even after the rotation ended.
const NotifyWorkflowName = "Notify"

// Notification is one event of a rotation, as every channel receives it
// (the webhook's JSON body). It carries key IDs, never a secret.
type Notification struct {
	Event model.NotifyEvent `json:"event"`
	// Delivery is unique per event and the same on every retry (the workflow
	// ID of the Notify workflow): receivers drop a repeat by it.
	Delivery   string    `json:"delivery"`
	Account    string    `json:"account"`
	User       string    `json:"user"`
	WorkflowID string    `json:"workflowId"`
	RunID      string    `json:"runId"`
	At         time.Time `json:"at"`
	Phase      Phase     `json:"phase"`
	// Summary is one line for a chat message.
	Summary string `json:"summary"`
	// Reason says why the rotation failed or holds, or what a target said.
	Reason string `json:"reason,omitempty"`
	// Resolve lists what ends a hold: the exact commands, or the Web UI
	// action.
	Resolve  []string `json:"resolve,omitempty"`
	OldKeyID string   `json:"oldKeyId,omitempty"`
	NewKeyID string   `json:"newKeyId,omitempty"`
	// Targets are every target and how far it got (Target names the one
	// that failed, for targetFailed).
	Targets    []TargetStatus `json:"targets"`
	Target     string         `json:"target,omitempty"`
	Revocation *Revocation    `json:"revocation,omitempty"`
	// Left says, for an ending, which keys the user holds.
	Left string `json:"left,omitempty"`
	// Link is the rotation in the Temporal Web UI (the worker's
	// temporal.uiURL); empty when none is configured.
	Link string `json:"link,omitempty"`
}

// NotifyInput is the Notify workflow's input: the event and the channels
// (by name, from the worker's configuration) that want it.
type NotifyInput struct {
	Notification Notification `json:"notification"`
	Channels     []string     `json:"channels"`
}

// NotifyResult says which channels took the event.
type NotifyResult struct {
	Delivered []string        `json:"delivered,omitempty"`
	Failed    []ChannelFailed `json:"failed,omitempty"`
}

// ChannelFailed is a channel that did not take the event, and why.
type ChannelFailed struct {
	Channel string `json:"channel"`
	Error   string `json:"error"`
}

// TypeNotifyFailed is the type of the error a Notify workflow ends with when
// a channel never took the event; its details hold the NotifyResult.
const TypeNotifyFailed = "NotifyFailed"
