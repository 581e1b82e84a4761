package watchers

import "context"

// Notifying is a Store that tells OnChange of every user whose lists a
// Put or Remove changed, once the store has taken the change: how the
// notifier hears that it must apply the policy again to that user's
// watchers (notify.Notifier.Reauthorize).
type Notifying struct {
	Store
	OnChange func(user string)
}

// Put implements Store.
func (n *Notifying) Put(ctx context.Context, e Entry) error {
	err := n.Store.Put(ctx, e)
	if err == nil {
		n.changed(e.User)
	}
	return err
}

// Remove implements Store.
func (n *Notifying) Remove(ctx context.Context, user, watcher string) (bool, error) {
	ok, err := n.Store.Remove(ctx, user, watcher)
	if ok && err == nil {
		n.changed(user)
	}
	return ok, err
}

func (n *Notifying) changed(user string) {
	if n.OnChange != nil {
		n.OnChange(user)
	}
}
