// Package storetest is the conformance suite for notify.Store engines:
// what a notifier writes it reads back after a restart, for every engine.
//
//	func TestMemory(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) notify.Store { return notify.NewMemory() })
//	}
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/presence/notify"
)

// Run runs the suite against the engine newStore builds: an empty store
// per subtest, which registers its own cleanup (Close may be called twice).
func Run(t *testing.T, newStore func(t *testing.T) notify.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s notify.Store)
	}{
		{"PutList", testPutList},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"UsagesOfOneDialog", testUsages},
		{"Concurrent", testConcurrent},
		{"CloseTwice", testCloseTwice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

var expires = time.Date(2030, 1, 2, 3, 14, 5, 123456000, time.UTC)

// record is a subscription of watcher n to bob's presence.
func record(n int, event string) notify.Record {
	id := dialog.ID{CallID: fmt.Sprintf("call-%d@198.51.100.7", n), LocalTag: fmt.Sprintf("l%d", n), RemoteTag: "r'\"x" + fmt.Sprint(n)}
	return notify.Record{
		Dialog: dialog.Info{ID: id, Role: dialog.UAS, State: dialog.Confirmed,
			LocalParty: "<sip:bob@example.com>;tag=" + id.LocalTag, RemoteParty: "\"Ålice\" <sip:alice@example.com>;tag=" + id.RemoteTag,
			LocalTarget: "sip:bob@192.0.2.1:5060", RemoteTarget: "sip:alice@198.51.100.7:5060;transport=tcp",
			RouteSet: []string{"<sip:edge.example.com;lr>", "<sip:192.0.2.9;lr>"}, LocalSeq: 41, RemoteSeq: 7,
			Usages: []dialog.Usage{dialog.Subscription(event)}},
		Event: event, Watcher: fmt.Sprintf("w%d@example.com", n), Resource: "bob@example.com",
		Pending: n%2 == 1, Expires: expires, Flow: "udp:198.51.100.7:5060", Version: 3,
		Node: []string{"", "n1"}[n%2],
	}
}

func list(t *testing.T, s notify.Store) []notify.Record {
	t.Helper()
	recs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(recs, func(a, b notify.Record) int {
		return strings.Compare(a.Dialog.ID.CallID+a.Event, b.Dialog.ID.CallID+b.Event)
	})
	return recs
}

func testPutList(t *testing.T, s notify.Store) {
	want := []notify.Record{record(1, "presence"), record(2, "dialog;id=7")}
	for _, r := range want {
		if err := s.Put(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	got := list(t, s)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listed\n%+v\nwant\n%+v", got, want)
	}
}

func testReplace(t *testing.T, s notify.Store) {
	r := record(1, "presence")
	s.Put(context.Background(), r)
	r.Expires = r.Expires.Add(time.Hour)
	r.Pending = !r.Pending
	r.Dialog.RemoteTarget = "sip:alice@203.0.113.5"
	r.Dialog.RouteSet = nil
	r.Version = 9
	if err := s.Put(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := list(t, s)
	if len(got) != 1 || !reflect.DeepEqual(got[0], r) {
		t.Errorf("after a refresh %+v, want %+v", got, r)
	}
}

func testDelete(t *testing.T, s notify.Store) {
	a, b := record(1, "presence"), record(2, "presence")
	s.Put(context.Background(), a)
	s.Put(context.Background(), b)
	if err := s.Delete(context.Background(), a.Key()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(context.Background(), a.Key()); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	if got := list(t, s); len(got) != 1 || got[0].Watcher != b.Watcher {
		t.Errorf("after delete %+v", got)
	}
}

// testUsages: two subscriptions in one dialog (dialog;id=1 and
// dialog;id=2) are two records.
func testUsages(t *testing.T, s notify.Store) {
	a, b := record(1, "dialog;id=1"), record(1, "dialog;id=2")
	s.Put(context.Background(), a)
	s.Put(context.Background(), b)
	if got := list(t, s); len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	s.Delete(context.Background(), b.Key())
	if got := list(t, s); len(got) != 1 || got[0].Event != "dialog;id=1" {
		t.Errorf("after deleting one usage %+v", got)
	}
}

func testConcurrent(t *testing.T, s notify.Store) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				r := record(i*100+j, "presence")
				if err := s.Put(context.Background(), r); err != nil {
					t.Error(err)
				}
				if j%2 == 0 {
					if err := s.Delete(context.Background(), r.Key()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if got := list(t, s); len(got) != 40 {
		t.Errorf("%d records, want 40", len(got))
	}
}

func testCloseTwice(t *testing.T, s notify.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
