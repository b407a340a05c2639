package httpd

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes registers every route the server answers. It is the one list of
// them: the web UI is added here as it lands. Every route under /api/v1 is
// described in openapi.json (a test holds the two lists equal).
func (s *Server) routes(e *gin.Engine) {
	// Operator endpoints (DESIGN.md §3 Health); /metrics only for the
	// metrics.allow networks or the bearer metrics.token.
	e.GET("/healthz", healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsGuard.guard, gin.WrapH(promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog: promErrorLog{s.log},
	})))

	if s.opts.Directory == nil || s.opts.Workflow == nil {
		return // no JSON API and no web UI without their services
	}
	s.uiRoutes(e)
	s.mailSetupRoutes(e) // mailsetup.go: autoconfig, autodiscover
	// The JSON API (DESIGN.md §6a). Search, the register book and the
	// dashboard come with the issue that builds them.
	v1 := e.Group("/api/v1", checkQuery)
	v1.GET("/openapi.json", openAPIDocument)
	v1.POST("/session", s.postSession)

	a := v1.Group("", s.authenticate)
	a.GET("/session", s.getSession)
	a.DELETE("/session", s.deleteSession)
	a.POST("/session/password", s.postSessionPassword)

	// Organisation.
	a.GET("/ministries", s.listMinistries)
	a.POST("/ministries", s.addMinistry)
	a.GET("/ministries/:code", s.getMinistry)
	a.PATCH("/ministries/:code", s.updateMinistry)
	a.GET("/registries", s.listRegistries)
	a.POST("/registries", s.addRegistry)
	a.GET("/registries/:code", s.getRegistry)
	a.PATCH("/registries/:code", s.updateRegistry)
	a.GET("/departments", s.listDepartments)
	a.POST("/departments", s.addDepartment)
	a.GET("/departments/:ministry/:code", s.getDepartment)
	a.PATCH("/departments/:ministry/:code", s.updateDepartment)
	a.GET("/users", s.listUsers)
	a.POST("/users", s.addUser)
	a.GET("/users/:address", s.getUser)
	a.PATCH("/users/:address", s.updateUser)
	a.GET("/users/:address/membership", s.getMembership)
	a.PATCH("/users/:address/membership", s.updateMembership)

	// Administration (api_policy.go, api_audit.go, api_admin.go).
	a.GET("/policy/rules", s.listPolicyRules)
	a.POST("/policy/rules", s.addPolicyRule)
	a.DELETE("/policy/rules/:pattern", s.removePolicyRule)
	a.GET("/policy/test", s.testPolicy)
	a.GET("/policy/violations", s.listViolations)
	a.GET("/audit", s.listAudit)
	a.POST("/audit/verify", s.verifyAudit)
	a.GET("/domains", s.listDomains)
	a.POST("/domains", s.addDomain)
	a.GET("/domains/:domain/dkim", s.domainDKIM)
	a.GET("/aliases", s.listAliases)
	a.POST("/aliases", s.addAlias)
	a.DELETE("/aliases/:address", s.removeAlias)

	// Correspondence and its attachments.
	a.POST("/correspondence", s.createCorrespondence)
	a.GET("/correspondence/:id", s.getCorrespondence)
	a.PATCH("/correspondence/:id", s.updateCorrespondence)
	a.GET("/correspondence/:id/verify", s.verifyCorrespondence)
	a.POST("/correspondence/:id/attachments", s.addAttachment)
	a.GET("/correspondence/:id/attachments/:aid", s.downloadAttachment)
	a.DELETE("/correspondence/:id/attachments/:aid", s.deleteAttachment)

	// Registry entries and their transitions.
	a.GET("/entries", s.listEntries)
	a.GET("/entries/:id", s.getEntry)
	a.POST("/entries/:id/:action", s.actOnEntry)

	// Referrals.
	a.GET("/referrals", s.listReferrals)
	a.GET("/referrals/:id", s.getReferral)
	a.POST("/referrals/:id/:action", s.actOnReferral)

	// The outbound queue (administrators).
	a.GET("/queue", s.listQueue)
	a.POST("/queue/:id/retry", s.actOnQueue(Queue.RetryAs))
	a.POST("/queue/:id/drop", s.actOnQueue(Queue.DropAs))
}

// uiRoutes registers the web UI (DESIGN.md §3a): server-rendered pages on
// the same listener as the API, sharing its session cookie.
func (s *Server) uiRoutes(e *gin.Engine) {
	e.GET("/static/*filepath", staticFiles())
	e.GET("/login", s.getLogin)
	e.POST("/login", s.postLogin)

	u := e.Group("", s.uiSession)
	u.GET("/", s.home)
	u.POST("/logout", s.postLogout)

	// The entry page (ui_entries.go).
	u.GET("/entries/:id", s.uiEntry)
	u.POST("/entries/:id/:action", s.uiEntryAct)
	u.GET("/entries/:id/attachments/:aid", s.uiEntryAttachment)
	u.GET("/correspondence/:id", s.uiCorrespondence)

	// Referrals (ui_referrals.go).
	u.GET("/referrals", s.referralsPage)
	u.GET("/referrals/:id", s.referralPage)
	u.POST("/referrals/:id/:action", s.actOnReferralForm)

	// Drafting (ui_draft.go, ui_draft_upload.go).
	u.GET("/correspondence/new", s.getNewDraft)
	u.POST("/correspondence", s.postNewDraft)
	u.GET("/correspondence/:id/edit", s.getEditDraft)
	u.POST("/correspondence/:id", s.postEditDraft)
	u.POST("/correspondence/:id/attachments", s.postDraftAttachment)
	u.POST("/correspondence/:id/attachments/:aid/delete", s.postDeleteAttachment)
	u.GET("/registries/search", s.searchRegistries)

	u.GET("/account", s.getAccount)
	u.POST("/account/password", s.postAccountPassword)
	u.POST("/account/language", s.postAccountLanguage)
	u.GET("/account/mail.mobileconfig", s.mobileconfig) // mailsetup.go

	u.GET("/registers", s.getRegisters)

	s.adminRoutes(u) // ui_admin.go: /admin/…
}
