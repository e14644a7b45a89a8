package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// rewatchInterval is how often Watch tries to watch the policy directory
// again after it was removed or replaced.
const rewatchInterval = time.Second

// Watch reloads the policy set, debounced, whenever a .rego, .json or .yaml
// file under the source directory changes, subdirectories included (new
// ones are picked up as they appear). Reload failures are logged and kept
// for Status; Watch carries on. It returns nil when ctx is done, and an
// error only if it cannot start: no directory to watch, or no watcher.
func (e *Engine) Watch(ctx context.Context) error {
	dir := e.cfg.Source.Dir
	if dir == "" {
		return errors.New("policy: watch: the policy source is not a directory")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("policy: watch: %w", err)
	}
	defer w.Close()
	if err := e.addTree(w, dir); err != nil {
		return fmt.Errorf("policy: watch %s: %w", dir, err)
	}
	e.log.Debug("watching policy directory", "dir", dir)

	debounce := time.NewTimer(e.cfg.Debounce)
	debounce.Stop()
	var rewatch <-chan time.Time // set while the directory is gone
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			debounce.Stop()
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil // closed: only by us
			}
			if filepath.Clean(ev.Name) == filepath.Clean(dir) && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				e.log.Warn("policy directory removed; keeping the active set and waiting for it to come back", "dir", dir)
				if ticker == nil {
					ticker = time.NewTicker(rewatchInterval)
					rewatch = ticker.C
				}
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !hidden(ev.Name) {
					if err := e.addTree(w, ev.Name); err != nil {
						e.log.Warn("cannot watch new policy subdirectory", "dir", ev.Name, "error", err)
					}
					debounce.Reset(e.cfg.Debounce) // it may already hold files
					continue
				}
			}
			if relevant(ev) {
				debounce.Reset(e.cfg.Debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			e.log.Warn("policy watcher error", "error", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				debounce.Reset(e.cfg.Debounce) // changes may have been lost
			}
		case <-rewatch:
			if err := e.addTree(w, dir); err != nil {
				continue
			}
			ticker.Stop()
			ticker, rewatch = nil, nil
			e.log.Info("policy directory is back", "dir", dir)
			debounce.Reset(e.cfg.Debounce)
		case <-debounce.C:
			// Reload logs, counts and keeps its own failures.
			_ = e.Reload(ctx)
		}
	}
}

// addTree watches dir and its subdirectories, hidden ones excepted.
func (e *Engine) addTree(w *fsnotify.Watcher, dir string) error {
	if err := w.Add(dir); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == dir {
			return nil // unreadable entries show up as load errors
		}
		if hidden(p) {
			return fs.SkipDir
		}
		if err := w.Add(p); err != nil {
			e.log.Warn("cannot watch policy subdirectory", "dir", p, "error", err)
		}
		return nil
	})
}

func hidden(p string) bool { return strings.HasPrefix(filepath.Base(p), ".") }

// relevant reports whether a change can alter the policy set: a file the
// loader reads, or a swap of Kubernetes' ..data symlink, which replaces a
// mounted ConfigMap in one step. Chmod-only events and editor swap files
// are not.
func relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	base := filepath.Base(ev.Name)
	if strings.HasPrefix(base, "..") {
		return true
	}
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch filepath.Ext(base) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	}
	// A removed or renamed subdirectory takes its files with it.
	return ev.Has(fsnotify.Remove|fsnotify.Rename) && filepath.Ext(base) == ""
}
