package sessiontimer

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

var policy = Policy{Expires: 1800 * time.Second, MinSE: 90 * time.Second}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p  Policy
		ok bool
	}{
		{Policy{Expires: 1800 * time.Second, MinSE: 90 * time.Second}, true},
		{Policy{Expires: 90 * time.Second, MinSE: 90 * time.Second}, true},
		{Policy{Expires: 1800 * time.Second, MinSE: 89 * time.Second}, false},
		{Policy{Expires: 100 * time.Second, MinSE: 120 * time.Second}, false},
		{Policy{}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: %v", tt.p, err)
		}
	}
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		policy  Policy
		want    Answer
		headers [][2]string
		err     error
	}{
		{"uac asks to refresh, min-se of request is kept", "invite-timer.sip", policy,
			Answer{Session: Session{1800 * time.Second, RefresherUAC}, Require: true},
			[][2]string{{"Session-Expires", "1800;refresher=uac"}, {"Require", "timer"}}, nil},
		{"longer than we allow is lowered", "invite-timer.sip", Policy{Expires: 300 * time.Second, MinSE: 90 * time.Second},
			Answer{Session: Session{300 * time.Second, RefresherUAC}, Require: true}, nil, nil},
		{"lowered no further than the request's Min-SE", "invite-timer.sip", Policy{Expires: 100 * time.Second, MinSE: 90 * time.Second},
			Answer{Session: Session{120 * time.Second, RefresherUAC}, Require: true}, nil, nil},
		{"uac names uas", "invite-compact.sip", policy,
			Answer{Session: Session{600 * time.Second, RefresherUAS}},
			[][2]string{{"Session-Expires", "600;refresher=uas"}}, nil},
		{"below min-se from a uac that supports timer: 422", "invite-small.sip", policy,
			Answer{Reject: true, MinSE: 90}, [][2]string{{"Min-SE", "90"}}, nil},
		{"422 names our larger min-se", "invite-small.sip", Policy{Expires: 1800 * time.Second, MinSE: 300 * time.Second},
			Answer{Reject: true, MinSE: 300}, nil, nil},
		{"no timer from the uac: we refresh at our interval", "invite-notimer.sip", policy,
			Answer{Session: Session{1800 * time.Second, RefresherUAS}},
			[][2]string{{"Session-Expires", "1800;refresher=uas"}}, nil},
		{"malformed is a 400", "invite-malformed.sip", policy, Answer{}, nil, ErrSessionExpires},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tt.policy.Answer(golden(t, tt.file))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if a != tt.want {
				t.Fatalf("got %+v, want %+v", a, tt.want)
			}
			if tt.headers != nil && !slices.Equal(a.Headers(), tt.headers) {
				t.Fatalf("headers %q, want %q", a.Headers(), tt.headers)
			}
		})
	}
}

// TestAnswerWithoutSupported covers a Session-Expires below our Min-SE
// from a UAC that did not say it supports timers: it cannot understand a
// 422, so it gets our Min-SE with Parley refreshing.
func TestAnswerWithoutSupported(t *testing.T) {
	m := golden(t, "invite-small.sip")
	m.RemoveHeader("Supported")
	a, err := policy.Answer(reparse(t, m))
	if err != nil {
		t.Fatal(err)
	}
	want := Answer{Session: Session{90 * time.Second, RefresherUAS}}
	if a != want {
		t.Fatalf("got %+v, want %+v", a, want)
	}
}

func TestOffer(t *testing.T) {
	tests := []struct {
		name    string
		floor   time.Duration
		current Session
		want    [][2]string
	}{
		{"initial", 0, Session{}, [][2]string{{"Supported", "timer"}, {"Session-Expires", "1800"}, {"Min-SE", "90"}}},
		{"after a 422 above our interval", 3600 * time.Second, Session{},
			[][2]string{{"Supported", "timer"}, {"Session-Expires", "3600"}, {"Min-SE", "3600"}}},
		{"refresh keeps the refresher", 0, Session{600 * time.Second, RefresherUAS},
			[][2]string{{"Supported", "timer"}, {"Session-Expires", "600;refresher=uas"}, {"Min-SE", "90"}}},
	}
	for _, tt := range tests {
		if got := policy.Offer(tt.floor, tt.current); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAccept(t *testing.T) {
	tests := []struct {
		file string
		want Session
	}{
		{"ok-timer.sip", Session{900 * time.Second, RefresherUAS}},
		{"ok-notimer.sip", Session{1800 * time.Second, RefresherUAC}},
	}
	for _, tt := range tests {
		got, err := policy.Accept(golden(t, tt.file))
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v %v, want %+v", tt.file, got, err, tt.want)
		}
		if !got.LocalRefresh(false) == (tt.want.Refresher == RefresherUAC) {
			t.Errorf("%s: LocalRefresh(UAC) wrong", tt.file)
		}
	}
	m := golden(t, "ok-timer.sip")
	m.SetHeader("Session-Expires", "5")
	got, _ := policy.Accept(reparse(t, m))
	if got.Interval != AbsoluteMinSE || got.Refresher != RefresherUAC {
		t.Errorf("tiny interval with no refresher: %+v", got)
	}
}

func TestRetry(t *testing.T) {
	resp := golden(t, "422.sip")
	if floor, ok := Retry(resp, 1800*time.Second); floor != 0 || ok {
		t.Errorf("a Min-SE below what was asked must not loop: %v %v", floor, ok)
	}
	if floor, ok := Retry(resp, 900*time.Second); floor != 1200*time.Second || !ok {
		t.Errorf("got %v %v", floor, ok)
	}
	if _, ok := Retry(golden(t, "ok-notimer.sip"), 0); ok {
		t.Error("a 422 without Min-SE gives no retry")
	}
}

func reparse(t *testing.T, m *sip.Message) *sip.Message {
	t.Helper()
	out, err := sip.Parse(m.AppendTo(nil))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
