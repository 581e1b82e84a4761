package sip

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// frames drains f, returning each frame as its bytes ("PING" for a ping)
// and the error that stopped it, if any.
func frames(f *Framer) (out []string, err error) {
	for {
		fr, ok, err := f.Next()
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		if fr.Ping {
			out = append(out, "PING")
		} else {
			out = append(out, string(fr.Message))
		}
	}
}

// feed writes stream to a fresh framer in pieces cut at the given sizes
// (the last size repeats), draining it after every write.
func feed(stream []byte, sizes ...int) (out []string, err error) {
	var f Framer
	k := 0
	for len(stream) > 0 {
		n := sizes[min(k, len(sizes)-1)]
		k++
		n = min(max(n, 1), len(stream))
		f.Write(stream[:n])
		stream = stream[n:]
		got, err := frames(&f)
		out = append(out, got...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestFramerSplitAtEveryByte(t *testing.T) {
	invite := loadGolden(t, "invite.sip")
	ok200 := loadGolden(t, "ok200.sip")
	register := loadGolden(t, "register.sip")
	// Pipelined messages with keep-alives and stray CRLFs between them.
	var stream []byte
	stream = append(stream, "\r\n\r\n"...)
	stream = append(stream, invite...)
	stream = append(stream, "\r\n"...)
	stream = append(stream, ok200...)
	stream = append(stream, "\r\n\r\n"...)
	stream = append(stream, register...)
	want := []string{"PING", string(invite), string(ok200), "PING", string(register)}

	got, err := feed(stream, len(stream))
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("one write: %v\n%q", err, got)
	}
	for cut := 1; cut < len(stream); cut++ {
		got, err := feed(stream, cut, len(stream))
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("split at %d: %v %q", cut, err, got)
		}
	}
	for _, size := range []int{1, 2, 3, 7, 64, 333} {
		got, err := feed(stream, size)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunks of %d: %v", size, err)
		}
	}
	for _, fr := range got[1:] {
		if fr == "PING" {
			continue
		}
		if _, err := Parse([]byte(fr)); err != nil {
			t.Errorf("frame does not parse: %v", err)
		}
	}
}

func TestFramer(t *testing.T) {
	body := "v=0\r\n"
	msg := "MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\n\r\n" + body
	tests := []struct {
		name   string
		stream string
		want   []string
		err    error
	}{
		{"one", msg, []string{msg}, nil},
		{"pipelined", msg + msg, []string{msg, msg}, nil},
		{"ping", "\r\n\r\n", []string{"PING"}, nil},
		{"pong is skipped", "\r\n" + msg, []string{msg}, nil},
		{"half a ping waits", "\r\n\r", nil, nil},
		{"ping after stray CRs", "\r\r\r\n\r\n", []string{"PING"}, nil}, // fuzz crasher b7734ed1836d11ac
		{"stray LFs", "\n\n\n" + msg, []string{msg}, nil},
		{"bare LF head", "OPTIONS sip:a@b SIP/2.0\nContent-Length: 0\n\n", []string{"OPTIONS sip:a@b SIP/2.0\nContent-Length: 0\n\n"}, nil},
		{"folded length", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 0\r\n\r\n", []string{"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 0\r\n\r\n"}, nil},
		{"incomplete body waits", "MESSAGE sip:a@b SIP/2.0\r\nl: 50\r\n\r\nabc", nil, nil},
		{"missing length", "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", nil, ErrMissingLength},
		{"negative length", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n", nil, ErrContentLength},
		{"two lengths", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", nil, ErrContentLength},
		{"body too large", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 70000\r\n\r\n", nil, ErrBodyTooLarge},
		{"head too large", "OPTIONS sip:a@b SIP/2.0\r\nX: " + strings.Repeat("a", 70000), nil, ErrTooLarge},
		{"error after a frame", msg + "X\r\n\r\n", []string{msg}, ErrMissingLength},
	}
	for _, tc := range tests {
		var f Framer
		f.Write([]byte(tc.stream))
		got, err := frames(&f)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || !errors.Is(err, tc.err) {
			t.Errorf("%s: got %q %v, want %q %v", tc.name, got, err, tc.want, tc.err)
		}
		if err != nil {
			// The error sticks.
			f.Write([]byte(msg))
			if _, _, err2 := f.Next(); err2 != err {
				t.Errorf("%s: error did not stick: %v", tc.name, err2)
			}
		}
	}
}

func TestFramerLimits(t *testing.T) {
	f := Framer{Limits: Limits{MaxSize: 100}}
	f.Write([]byte("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 80\r\n\r\n"))
	if _, _, err := f.Next(); err != ErrBodyTooLarge {
		t.Errorf("got %v", err)
	}
	f = Framer{Limits: Limits{MaxSize: 100}}
	f.Write(bytes.Repeat([]byte("a"), 101))
	if _, _, err := f.Next(); err != ErrTooLarge {
		t.Errorf("got %v", err)
	}
	f = Framer{}
	f.Write([]byte("OPTIONS sip:a@b SIP/2.0\r\n"))
	if _, ok, err := f.Next(); ok || err != nil || f.Buffered() == 0 {
		t.Errorf("partial: %v %v %d", ok, err, f.Buffered())
	}
}

// TestFramerTrickle feeds a big message a byte at a time: the search for
// the end of the headers must resume, not restart, or this takes minutes.
func TestFramerTrickle(t *testing.T) {
	head := "MESSAGE sip:a@b SIP/2.0\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("f", 50)+"\r\n", 900) + "Content-Length: 3\r\n\r\nabc"
	var f Framer
	n := 0
	for i := 0; i < len(head); i++ {
		f.Write([]byte{head[i]})
		fr, ok, err := f.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			n++
			if string(fr.Message) != head {
				t.Fatal("wrong frame")
			}
		}
	}
	eq(t, "frames", n, 1)
}
