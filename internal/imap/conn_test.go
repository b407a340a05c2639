package imap

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// connPair returns a timeoutConn accepted on loopback and the client end.
func connPair(t *testing.T) (*timeoutConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := timeoutListener{ln, time.Minute}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c.(*timeoutConn), client
}

// Gathered writes reach the client whole and in order, in writes larger
// than the buffer as well as in small ones.
func TestGatheredWritesArriveInOrder(t *testing.T) {
	c, client := connPair(t)
	chunk := func(i int) []byte {
		if i == 100 {
			return bytes.Repeat([]byte("z"), 2*gatherSize)
		}
		return bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*97%5000)
	}
	var want bytes.Buffer
	for i := range 200 {
		want.Write(chunk(i))
	}
	got := make([]byte, want.Len())
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(client, got); done <- err }()
	c.gather()
	for i := range 200 {
		if n, err := c.Write(chunk(i)); n != len(chunk(i)) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the client read other bytes than were written")
	}
	// After flush, writes go straight out.
	if _, err := c.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(client, b); err != nil || string(b) != "after" {
		t.Fatalf("%q, %v", b, err)
	}
}

// A response written while writes are gathered (a BYE at shutdown, in the
// middle of a FETCH) still reaches the client when the connection closes.
func TestCloseSendsGatheredWrites(t *testing.T) {
	c, client := connPair(t)
	c.gather()
	if _, err := c.Write([]byte("* BYE shutting down\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "* BYE shutting down\r\n" {
		t.Fatalf("%q, %v", got, err)
	}
}
