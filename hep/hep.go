// Package hep encodes captured SIP messages as HEP v3 (the Homer
// Encapsulation Protocol, also called EEP) and sends them to a collector
// over UDP, for sites that keep their call history in Homer.
//
// A HEP v3 packet is the four bytes "HEP3", a 16-bit total length, then
// chunks, each a 16-bit vendor ID (0 for the generic chunks used here), a
// 16-bit type, a 16-bit length that counts the chunk's own six-byte header,
// and the value. All numbers are big-endian.
package hep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// IP protocol numbers for Packet.Proto: what the message travelled on.
// TLS travels on TCP.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// TypeSIP is the HEP protocol type of a SIP payload.
const TypeSIP = 1

// Chunk types (vendor 0) of the HEP v3 specification.
const (
	chunkFamily   = 0x0001 // IP protocol family: 2 IPv4, 10 IPv6
	chunkProto    = 0x0002 // IP protocol ID: 6 TCP, 17 UDP
	chunkSrc4     = 0x0003
	chunkDst4     = 0x0004
	chunkSrc6     = 0x0005
	chunkDst6     = 0x0006
	chunkSrcPort  = 0x0007
	chunkDstPort  = 0x0008
	chunkTimeSec  = 0x0009
	chunkTimeUsec = 0x000a
	chunkType     = 0x000b // protocol type: 1 SIP
	chunkAgentID  = 0x000c
	chunkAuthKey  = 0x000e
	chunkPayload  = 0x000f
)

// Address families as HEP writes them (the BSD AF_INET and AF_INET6).
const (
	familyIPv4 = 2
	familyIPv6 = 10
)

const (
	headerLen      = 6 // "HEP3" and the total length
	chunkHeaderLen = 6
	maxPacket      = 1<<16 - 1 // the total length is 16 bits
)

// ErrTooLong is returned for a packet whose encoding exceeds the 65535
// bytes a HEP v3 length can describe.
var ErrTooLong = errors.New("hep: packet longer than 65535 bytes")

// Packet is one captured message.
type Packet struct {
	Proto    uint8          // ProtoUDP or ProtoTCP
	Src, Dst netip.AddrPort // an invalid one is sent as the unspecified address, port 0
	Time     time.Time      // capture time, sent to the microsecond
	Type     uint8          // TypeSIP
	AgentID  uint32         // capture agent ID, to tell servers apart
	AuthKey  string         // sent only when not empty
	Payload  string         // the captured message
}

// AppendTo appends the encoding of p to b, allocating nothing when b has
// room. Both addresses are sent as IPv4 when both are IPv4 (IPv4-mapped
// IPv6 counts), else as IPv6.
func (p *Packet) AppendTo(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, "HEP3\x00\x00"...)
	src, dst := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	v4 := (src.Is4() || !src.IsValid()) && (dst.Is4() || !dst.IsValid())
	srcType, dstType, family := uint16(chunkSrc6), uint16(chunkDst6), uint8(familyIPv6)
	if v4 {
		srcType, dstType, family = chunkSrc4, chunkDst4, familyIPv4
	}
	b = appendUint8(b, chunkFamily, family)
	b = appendUint8(b, chunkProto, p.Proto)
	b = appendAddr(b, srcType, src, v4)
	b = appendAddr(b, dstType, dst, v4)
	b = appendUint16(b, chunkSrcPort, p.Src.Port())
	b = appendUint16(b, chunkDstPort, p.Dst.Port())
	usec := p.Time.UnixMicro()
	b = appendUint32(b, chunkTimeSec, uint32(usec/1e6))
	b = appendUint32(b, chunkTimeUsec, uint32(usec%1e6))
	b = appendUint8(b, chunkType, p.Type)
	b = appendUint32(b, chunkAgentID, p.AgentID)
	if p.AuthKey != "" {
		b = appendString(b, chunkAuthKey, p.AuthKey)
	}
	if chunkHeaderLen+len(p.Payload) > maxPacket {
		return b[:start], ErrTooLong
	}
	b = appendString(b, chunkPayload, p.Payload)
	n := len(b) - start
	if n > maxPacket {
		return b[:start], ErrTooLong
	}
	binary.BigEndian.PutUint16(b[start+4:], uint16(n))
	return b, nil
}

// chunk appends a chunk header for a value of n bytes.
func chunk(b []byte, typ uint16, n int) []byte {
	b = binary.BigEndian.AppendUint16(b, 0) // the generic vendor
	b = binary.BigEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint16(b, uint16(chunkHeaderLen+n))
}

func appendUint8(b []byte, typ uint16, v uint8) []byte { return append(chunk(b, typ, 1), v) }

func appendUint16(b []byte, typ uint16, v uint16) []byte {
	return binary.BigEndian.AppendUint16(chunk(b, typ, 2), v)
}

func appendUint32(b []byte, typ uint16, v uint32) []byte {
	return binary.BigEndian.AppendUint32(chunk(b, typ, 4), v)
}

func appendString(b []byte, typ uint16, v string) []byte { return append(chunk(b, typ, len(v)), v...) }

// appendAddr appends a in 4 or 16 bytes; an invalid address is sent as the
// unspecified one. An IPv4 address among IPv6 becomes IPv4-mapped.
func appendAddr(b []byte, typ uint16, a netip.Addr, v4 bool) []byte {
	if v4 {
		var ip [4]byte
		if a.IsValid() {
			ip = a.As4()
		}
		return append(chunk(b, typ, 4), ip[:]...)
	}
	var ip [16]byte
	if a.IsValid() {
		ip = a.As16()
	}
	return append(chunk(b, typ, 16), ip[:]...)
}

// Decode parses a HEP v3 packet. It reads the chunks Packet holds and
// skips others, as a collector must; it exists for tests and tools.
func Decode(b []byte) (Packet, error) {
	if len(b) < headerLen || string(b[:4]) != "HEP3" {
		return Packet{}, errors.New("hep: not a HEP3 packet")
	}
	if n := int(binary.BigEndian.Uint16(b[4:])); n != len(b) {
		return Packet{}, fmt.Errorf("hep: length says %d bytes, packet has %d", n, len(b))
	}
	var d decoder
	for rest := b[headerLen:]; len(rest) > 0; {
		if len(rest) < chunkHeaderLen {
			return Packet{}, errors.New("hep: truncated chunk header")
		}
		vendor, typ := binary.BigEndian.Uint16(rest), binary.BigEndian.Uint16(rest[2:])
		n := int(binary.BigEndian.Uint16(rest[4:]))
		if n < chunkHeaderLen || n > len(rest) {
			return Packet{}, fmt.Errorf("hep: chunk %#04x has bad length %d", typ, n)
		}
		v := rest[chunkHeaderLen:n]
		rest = rest[n:]
		if vendor != 0 {
			continue
		}
		if err := d.chunk(typ, v); err != nil {
			return Packet{}, err
		}
	}
	return d.packet(), nil
}

// fixedSize is the value size of each fixed-size chunk.
var fixedSize = map[uint16]int{
	chunkFamily: 1, chunkProto: 1, chunkType: 1, chunkSrc4: 4, chunkDst4: 4, chunkSrc6: 16, chunkDst6: 16,
	chunkSrcPort: 2, chunkDstPort: 2, chunkTimeSec: 4, chunkTimeUsec: 4, chunkAgentID: 4,
}

// decoder collects the chunks of one packet.
type decoder struct {
	p            Packet
	src, dst     netip.Addr
	sport, dport uint16
	sec, usec    uint32
}

func (d *decoder) chunk(typ uint16, v []byte) error {
	if n, fixed := fixedSize[typ]; fixed && len(v) != n {
		return fmt.Errorf("hep: chunk %#04x has %d bytes, want %d", typ, len(v), n)
	}
	switch typ {
	case chunkProto:
		d.p.Proto = v[0]
	case chunkType:
		d.p.Type = v[0]
	case chunkSrc4, chunkSrc6:
		d.src, _ = netip.AddrFromSlice(v)
	case chunkDst4, chunkDst6:
		d.dst, _ = netip.AddrFromSlice(v)
	case chunkSrcPort:
		d.sport = binary.BigEndian.Uint16(v)
	case chunkDstPort:
		d.dport = binary.BigEndian.Uint16(v)
	case chunkTimeSec:
		d.sec = binary.BigEndian.Uint32(v)
	case chunkTimeUsec:
		d.usec = binary.BigEndian.Uint32(v)
	case chunkAgentID:
		d.p.AgentID = binary.BigEndian.Uint32(v)
	case chunkAuthKey:
		d.p.AuthKey = string(v)
	case chunkPayload:
		d.p.Payload = string(v)
	}
	return nil
}

func (d *decoder) packet() Packet {
	d.p.Src, d.p.Dst = netip.AddrPortFrom(d.src, d.sport), netip.AddrPortFrom(d.dst, d.dport)
	d.p.Time = time.Unix(int64(d.sec), int64(d.usec)*1000)
	return d.p
}
