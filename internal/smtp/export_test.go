package smtp

// InDataForTest is the number of DATA (or BDAT) transfers being received
// or stored.
func InDataForTest(s *Server) int64 { return s.inData.Load() }
