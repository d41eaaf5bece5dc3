// Package memstorage is a storage extension (the collector's
// xextension/storage API) that keeps its data in memory, for tests: a
// value survives the components that wrote it, as long as the Extension
// lives, as a file_storage directory survives a collector restart.
package memstorage

import (
	"context"
	"errors"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Extension is the in-memory storage extension.
type Extension struct {
	component.StartFunc
	component.ShutdownFunc

	mu      sync.Mutex
	data    map[string][]byte // by client name + "\xff" + key
	sets    int
	clients int
}

var _ storage.Extension = (*Extension)(nil)

// New returns an empty store.
func New() *Extension { return &Extension{data: map[string][]byte{}} }

// GetClient returns the client of a component: its data is its own.
func (e *Extension) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	e.mu.Lock()
	e.clients++
	e.mu.Unlock()
	return &client{e: e, prefix: kind.String() + "/" + id.String() + "/" + name + "\xff"}, nil
}

// Sets returns how many values were written.
func (e *Extension) Sets() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sets
}

// OpenClients returns how many clients were opened and not closed.
func (e *Extension) OpenClients() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clients
}

type client struct {
	e      *Extension
	prefix string
	closed bool
}

var errClosed = errors.New("memstorage: client closed")

func (c *client) Get(_ context.Context, key string) ([]byte, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	return slices.Clone(c.e.data[c.prefix+key]), nil
}

func (c *client) Set(_ context.Context, key string, value []byte) error {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if c.closed {
		return errClosed
	}
	c.e.sets++
	c.e.data[c.prefix+key] = slices.Clone(value)
	return nil
}

func (c *client) Delete(_ context.Context, key string) error {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if c.closed {
		return errClosed
	}
	delete(c.e.data, c.prefix+key)
	return nil
}

func (c *client) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		var err error
		switch op.Type {
		case storage.Get:
			op.Value, err = c.Get(ctx, op.Key)
		case storage.Set:
			err = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			err = c.Delete(ctx, op.Key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *client) Close(context.Context) error {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.e.clients--
	}
	return nil
}
