package transport

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// BenchmarkWSSRoundTrip is one request and its 200 over an open WSS
// connection: the server reads the WebSocket message, parses, stamps
// received and rport, answers and frames the answer. The client's work
// is in the same process and counts too. The bodies are none (a
// REGISTER's) and 1 500 bytes (a browser's SDP offer is about that).
func BenchmarkWSSRoundTrip(b *testing.B) {
	for _, body := range []int{0, 1500} {
		b.Run(fmt.Sprintf("body=%d", body), func(b *testing.B) { benchWSS(b, body) })
	}
}

func benchWSS(b *testing.B, body int) {
	m, _ := startAnswering(b, wsConfig(WSS, b))
	ws := mustDialWS(b, m)
	req := request(WSS, "df7jal23ls0d.invalid", strings.Repeat("v", body))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := ws.WriteMessage(websocket.TextMessage, req); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}
