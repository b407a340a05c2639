package app

import (
	"context"

	"diwan.gov.sy/diwan/internal/smtp"
	"diwan.gov.sy/diwan/internal/workflow"
)

// sendAsDirectory is the directory as the SMTP listeners see it, with the
// workflow's clerks added to who may send as an address (DESIGN.md §4): a
// registry's clerks may submit mail as the registry's mailbox. Neither
// side reads the other's tables; this type alone puts the two answers
// together.
type sendAsDirectory struct {
	smtp.Directory
	wf *workflow.Service
}

// smtpDirectory is what startSMTP gives the listeners as their Directory.
func smtpDirectory(e *Env) smtp.Directory {
	return sendAsDirectory{Directory: e.Directory, wf: e.Workflow}
}

// MaySendAs: the directory's answer (own login, aliases, postmaster@),
// else whether the user clerks for the registry whose mailbox address is.
func (d sendAsDirectory) MaySendAs(ctx context.Context, userID int64, address string) (bool, error) {
	ok, err := d.Directory.MaySendAs(ctx, userID, address)
	if err != nil || ok {
		return ok, err
	}
	return d.wf.ClerkOfRegistryAddress(ctx, userID, address)
}
