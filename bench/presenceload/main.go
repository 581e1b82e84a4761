// Command presenceload measures a presence server on loopback: it holds
// N long-lived presence subscriptions (SUBSCRIBE/s with their first
// NOTIFY, the server's resident memory per subscription), then has W
// watchers of one presentity and sends one PUBLISH for it, timing each
// watcher's NOTIFY from the PUBLISH's 200 (p50, p99, NOTIFY/s). It speaks
// SIP over one UDP socket and is bounded in count (-n, -w) and time
// (-timeout). Used by bench/presence.sh against parley and Kamailio.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	server := flag.String("server", "127.0.0.1:5070", "the presence server, host:port (the host is also the domain)")
	n := flag.Int("n", 10000, "long-lived subscriptions to hold (spread over 1 000 presentities)")
	w := flag.Int("w", 1000, "watchers of the one presentity that publishes")
	rate := flag.Int("rate", 2000, "SUBSCRIBEs sent per second")
	pid := flag.Int("pid", 0, "the server's process id, to read its resident memory (0: not measured)")
	timeout := flag.Duration("timeout", 5*time.Minute, "the whole run's bound")
	settle := flag.Duration("settle", 40*time.Second, "wait after the subscriptions before reading memory and publishing: transactions linger 32 s")
	metrics := flag.String("metrics", "", "the server's Prometheus /metrics URL on loopback, to read its Go heap in use (parley)")
	flag.Parse()
	r, err := newRun(*server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "presenceload:", err)
		os.Exit(1)
	}
	deadline := time.Now().Add(*timeout)
	go r.read()
	rss0, heap0, live0 := rss(*pid), goMetric(*metrics, "go_memstats_heap_inuse_bytes"), goMetric(*metrics, "go_memstats_next_gc_bytes")/2
	secs, ok := r.subscribe("bulk", *n, 1000, *rate, deadline)
	time.Sleep(min(*settle, time.Until(deadline)))
	rss1, heap1, live1 := rss(*pid), goMetric(*metrics, "go_memstats_heap_inuse_bytes"), goMetric(*metrics, "go_memstats_next_gc_bytes")/2
	fmt.Printf("subscriptions %d of %d in %.2f s: %.0f SUBSCRIBE/s (each with its first NOTIFY), NOTIFYs answered %d\n",
		ok, *n, secs, float64(ok)/secs, r.notifies.Load())
	if held := goMetric(*metrics, `parley_presence_subscriptions{event="presence"}`); held > 0 {
		// Subscriptions whose 200 or first NOTIFY came too late for this
		// tool are held all the same: memory is per subscription held.
		ok = int(held)
		fmt.Printf("the server holds %d presence subscriptions\n", held)
	}
	if *pid != 0 && ok > 0 {
		fmt.Printf("resident memory %d → %d KiB: %.0f B per subscription\n", rss0/1024, rss1/1024, float64(rss1-rss0)/float64(ok))
	}
	if *metrics != "" && ok > 0 && heap1 > 0 {
		fmt.Printf("Go heap in use %d → %d KiB: %.0f B per subscription\n", heap0/1024, heap1/1024, float64(heap1-heap0)/float64(ok))
		// The GC's goal is twice the heap live after the last collection
		// (GOGC 100): half of it is what the subscriptions keep alive.
		fmt.Printf("live heap at the last GC %d → %d KiB: %.0f B per subscription\n", live0/1024, live1/1024, float64(live1-live0)/float64(ok))
	}
	if _, ok := r.subscribe("fan", *w, 1, *rate, deadline); ok < *w {
		fmt.Printf("fan-out: only %d of %d watchers subscribed\n", ok, *w)
	}
	time.Sleep(time.Second)
	r.fanOut(*w, deadline)
	r.conn.Close()
}

// run is one load run: the socket, and what the reader saw.
type run struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	domain string
	local  string
	tag    string

	notifies atomic.Int64
	mu       sync.Mutex
	answered map[string]chan int // SUBSCRIBE or PUBLISH Call-ID → its final status
	first    map[string]chan struct{}
	marker   string
	arrivals []time.Time
}

func newRun(server string) (*run, error) {
	addr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return nil, err
	}
	if !addr.IP.IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address", server)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: addr.IP})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	return &run{conn: conn, server: addr, domain: addr.IP.String(), local: conn.LocalAddr().String(),
		tag: strconv.FormatInt(time.Now().UnixNano(), 36), answered: map[string]chan int{},
		first: map[string]chan struct{}{}}, nil
}

// read answers every NOTIFY 200 and hands responses to their waiters.
func (r *run) read() {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		now := time.Now()
		callID := header(msg, "Call-ID", "i")
		if strings.HasPrefix(msg, "NOTIFY ") {
			r.notifies.Add(1)
			_, _ = r.conn.WriteToUDP([]byte(okFor(msg)), from)
			r.mu.Lock()
			if ch := r.first[callID]; ch != nil {
				close(ch)
				delete(r.first, callID)
			}
			if r.marker != "" && strings.Contains(msg, r.marker) {
				r.arrivals = append(r.arrivals, now)
			}
			r.mu.Unlock()
			continue
		}
		code, _ := strconv.Atoi(strings.Fields(msg + " x x")[1])
		if code < 200 {
			continue
		}
		r.mu.Lock()
		if ch := r.answered[callID]; ch != nil {
			ch <- code
			delete(r.answered, callID)
		}
		r.mu.Unlock()
	}
}

// subscribe makes count subscriptions (Expires 3600) to resources
// presentities at rate a second and waits for each one's 200 and first
// NOTIFY; it returns the seconds taken and the subscriptions made.
func (r *run) subscribe(kind string, count, resources, rate int, deadline time.Time) (float64, int) {
	var wg sync.WaitGroup
	var ok atomic.Int64
	start := time.Now()
	tick := time.Second / time.Duration(max(rate, 1))
	for i := 0; i < count && time.Now().Before(deadline); i++ {
		if wait := time.Until(start.Add(time.Duration(i) * tick)); wait > 0 {
			time.Sleep(wait)
		}
		callID := fmt.Sprintf("%s-%s-%d", kind, r.tag, i)
		res := "fan"
		if resources > 1 {
			res = "user" + strconv.Itoa(i%resources)
		}
		done, first := make(chan int, 1), make(chan struct{})
		r.mu.Lock()
		r.answered[callID], r.first[callID] = done, first
		r.mu.Unlock()
		r.send(r.request("SUBSCRIBE", res, callID, "Event: presence\r\nAccept: application/pidf+xml\r\nExpires: 3600\r\n", ""))
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait := time.NewTimer(min(32*time.Second, time.Until(deadline)))
			defer wait.Stop()
			select {
			case code := <-done:
				if code != 200 && code != 202 {
					return
				}
			case <-wait.C:
				return
			}
			select {
			case <-first:
				ok.Add(1)
			case <-wait.C:
			}
		}()
	}
	wg.Wait()
	return time.Since(start).Seconds(), int(ok.Load())
}

// fanOut publishes a new state of "fan" and times its watchers' NOTIFYs
// from the PUBLISH's 200.
func (r *run) fanOut(watchers int, deadline time.Time) {
	marker := "fan-" + r.tag
	body := `<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:fan@` + r.domain +
		`"><tuple id="t1"><status><basic>open</basic></status><note>` + marker + `</note></tuple></presence>`
	callID := "pub-" + r.tag
	done := make(chan int, 1)
	r.mu.Lock()
	r.answered[callID], r.marker = done, marker
	r.mu.Unlock()
	r.send(r.request("PUBLISH", "fan", callID, "Event: presence\r\nExpires: 3600\r\nContent-Type: application/pidf+xml\r\n", body))
	var code int
	select {
	case code = <-done:
	case <-time.After(min(10*time.Second, time.Until(deadline))):
	}
	ok := time.Now()
	if code != 200 {
		fmt.Printf("fan-out: PUBLISH answered %d\n", code)
		return
	}
	for end := ok.Add(min(30*time.Second, time.Until(deadline))); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		got := len(r.arrivals)
		r.mu.Unlock()
		if got >= watchers {
			break
		}
	}
	r.mu.Lock()
	lat := make([]time.Duration, len(r.arrivals))
	for i, t := range r.arrivals {
		lat[i] = max(t.Sub(ok), 0) // a NOTIFY may overtake the 200
	}
	r.mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		fmt.Printf("fan-out: none of %d watchers notified\n", watchers)
		return
	}
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("fan-out: %d of %d watchers notified after the PUBLISH's 200: p50 %v, p99 %v, last %v (%.0f NOTIFY/s)\n",
		len(lat), watchers, q(.5).Round(time.Microsecond), q(.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond),
		float64(len(lat))/max(lat[len(lat)-1].Seconds(), 1e-3))
}

func (r *run) request(method, user, callID, extra, body string) string {
	return method + " sip:" + user + "@" + r.domain + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.local + ";branch=z9hG4bK" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:" + user + "@" + r.domain + ">;tag=" + r.tag + "\r\n" +
		"To: <sip:" + user + "@" + r.domain + ">\r\nCall-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\n" +
		"Contact: <sip:watcher@" + r.local + ">\r\n" + extra +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func (r *run) send(msg string) {
	_, _ = r.conn.WriteToUDP([]byte(msg), r.server)
}

// okFor is a 200 to a request: its Via, From, To, Call-ID and CSeq.
func okFor(req string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	head, _, _ := strings.Cut(req, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// header returns a header's value by its name or compact form.
func header(msg, name, compact string) string {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		n, v, ok := strings.Cut(line, ":")
		if n = strings.TrimSpace(n); ok && (strings.EqualFold(n, name) || n == compact) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// goMetric reads one series (its name and labels as /metrics writes
// them) from a /metrics URL on loopback, 0 when unknown.
func goMetric(url, name string) int64 {
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		return 0
	}
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f)
		}
	}
	return 0
}

// rss is a process's resident memory in bytes, 0 when unknown.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
