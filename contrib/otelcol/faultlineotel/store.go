package faultlineotel

import (
	"context"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/faultline-go/faultline/pipeline"
)

// CheckpointKey is the key under which a runtime's checkpoint is kept in
// its storage client.
const CheckpointKey = "checkpoint"

// Store keeps a runtime's checkpoint in a storage extension's client
// (the collector's file_storage, say), under CheckpointKey. The client is
// the component's own (GetClient with its kind and ID), so the processor
// and the connector never share a checkpoint.
type Store struct {
	Client storage.Client
	// Name says where the checkpoint is, in errors: the extension's ID.
	Name string
}

var _ pipeline.Store = Store{}

// Load returns the checkpoint; nil if none was saved.
func (s Store) Load(ctx context.Context) ([]byte, error) { return s.Client.Get(ctx, CheckpointKey) }

// Save replaces the checkpoint.
func (s Store) Save(ctx context.Context, b []byte) error { return s.Client.Set(ctx, CheckpointKey, b) }

// String names the store in the runtime's errors.
func (s Store) String() string { return "storage extension " + s.Name + ", key " + CheckpointKey }
