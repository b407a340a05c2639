package imap

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// QUOTA (RFC 9208). A user's mail has one quota, the storage quota the
// mail store enforces (mailstore Usage; set by administrators with
// `diwan admin user quota`): one quota root, "", holding every mailbox of
// the user, with the one resource STORAGE in KiB (QUOTA=RES-STORAGE). A
// user without a quota has no quota root. SETQUOTA is refused: quotas are
// an administrator's decision, and QUOTASET is not advertised.

// Command names of QUOTA (the command label, metrics.go).
const (
	cmdGetQuota     = "GETQUOTA"
	cmdGetQuotaRoot = "GETQUOTAROOT"
	cmdSetQuota     = "SETQUOTA"
)

// quotaRoot is the name of the user's one quota root.
const quotaRoot = ""

// GetQuota answers GETQUOTA (RFC 9208 §4.2).
func (s *session) GetQuota(root string) (_ *imapserver.QuotaData, err error) {
	defer s.done(cmdGetQuota, &err)
	data, err := s.quotaData()
	if err != nil {
		return nil, err
	}
	if root != quotaRoot || data == nil {
		return nil, no(imap.ResponseCodeNonExistent, "No such quota root")
	}
	return data, nil
}

// GetQuotaRoot answers GETQUOTAROOT (RFC 9208 §4.3): every existing mailbox
// is under the root "", when the user has a quota.
func (s *session) GetQuotaRoot(mailbox string) (_ []string, _ []*imapserver.QuotaData, err error) {
	defer s.done(cmdGetQuotaRoot, &err)
	name, err := mailboxName(mailbox)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.srv.o.Store.Mailbox(s.ctx, s.uid(), name); err != nil {
		return nil, nil, s.storeError("getquotaroot", err)
	}
	data, err := s.quotaData()
	if err != nil || data == nil {
		return nil, nil, err
	}
	return []string{quotaRoot}, []*imapserver.QuotaData{data}, nil
}

// SetQuota refuses SETQUOTA (RFC 9208 §4.1: the server may refuse any
// change).
func (s *session) SetQuota(string, map[imap.QuotaResourceType]int64) (err error) {
	defer s.done(cmdSetQuota, &err)
	return no(imap.ResponseCodeNoPerm, "Quotas are set by the administrators")
}

// quotaData reads the user's usage and quota; nil when there is no quota.
func (s *session) quotaData() (*imapserver.QuotaData, error) {
	u, err := s.srv.o.Store.Usage(s.ctx, s.uid())
	if err != nil {
		return nil, s.storeError("quota", err)
	}
	if u.Quota <= 0 {
		return nil, nil
	}
	return &imapserver.QuotaData{
		Root: quotaRoot,
		Resources: map[imap.QuotaResourceType]imapserver.QuotaResourceData{
			imap.QuotaResourceStorage: {Usage: kib(u.Bytes), Limit: u.Quota / 1024},
		},
	}, nil
}
