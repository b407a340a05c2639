// Package mailauth holds the sender authentication of mail: DKIM keys and
// signatures for the domains hosted here (RFC 6376, RFC 8463), and the
// checks of inbound mail (SPF, DKIM, DMARC).
//
// Keys owns the table dkim_keys. Private keys are stored only sealed with
// a key derived from the master key (package secrets), so a copy of the
// database signs nothing. The directory says which domains are hosted;
// this package asks it through a function and never reads its tables. It
// knows no SMTP server: internal/smtp calls a Signer through its own
// interface, and internal/app wires the two.
package mailauth
