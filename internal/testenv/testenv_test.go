package testenv

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestPostgresHandsOutSeparateDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatalf("two calls returned the same database %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	conn2, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	var n int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("table created in one database is visible in the other")
	}
}

func TestClusterStopsAndStartsOnTheSamePort(t *testing.T) {
	c := NewCluster(t, false)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.Dial("tcp", c.Addr()); err == nil {
		conn.Close()
		t.Fatalf("stopped cluster still accepts connections on %s", c.Addr())
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	dsn, err := c.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("restarted cluster: %v", err)
	}
	if dsn == "" {
		t.Fatal("empty DSN")
	}
}

func TestS3ServerAcceptsConnections(t *testing.T) {
	s := S3(t)
	conn, err := net.Dial("tcp", s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
