package mailauth_test

import (
	"os"
	"testing"

	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
