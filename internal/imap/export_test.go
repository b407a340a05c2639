package imap

import "diwan.gov.sy/diwan/internal/directory"

// SetPreAuth makes every new connection start logged in as u, without TLS
// (RFC 9051 §7.1.4 PREAUTH): the fuzz target's way past LOGIN.
func (s *Server) SetPreAuth(u directory.User) { s.preAuth = &u }
