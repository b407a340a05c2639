package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/workflow"
)

func registryCmd() *cobra.Command {
	c := group("registry", "registries (دواوين) and their mailboxes")
	var ministry, nameAR, nameEN, address, template string
	var approval bool
	add := &cobra.Command{
		Use:   "add CODE --ministry CODE --name-ar A --name-en E --address ADDRESS",
		Short: "add a registry of a ministry, with its mailbox address on a domain of that ministry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				r, err := e.Workflow.AddRegistry(ctx, workflow.OperatorActor(actor), workflow.Registry{
					Code: args[0], Ministry: ministry, NameAR: nameAR, NameEN: nameEN, Address: address,
					Template: template, ApprovalRequired: approval,
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added registry %s (ministry %s, %s)\n", r.Code, r.Ministry, r.Address)
				return nil
			})
		},
	}
	add.Flags().StringVar(&ministry, "ministry", "", "code of the ministry")
	add.Flags().StringVar(&nameAR, "name-ar", "", "Arabic name")
	add.Flags().StringVar(&nameEN, "name-en", "", "English name")
	add.Flags().StringVar(&address, "address", "", "mailbox address, on a domain hosted for the ministry")
	add.Flags().StringVar(&template, "template", "", "numbering template (default "+workflow.DefaultTemplate+")")
	add.Flags().BoolVar(&approval, "approval", false, "outgoing drafts need a head's approval before registration")

	var listMinistry string
	list := &cobra.Command{
		Use:   "list",
		Short: "list registries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, _ string) error {
				rs, err := e.Workflow.Registries(ctx, listMinistry)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, r := range rs {
					approval := "no"
					if r.ApprovalRequired {
						approval = "yes"
					}
					rows = append(rows, []string{r.Code, r.Ministry, r.Address, r.NameAR, r.NameEN, r.Template, approval})
				}
				return table(cmd.OutOrStdout(), "CODE\tMINISTRY\tADDRESS\tNAME_AR\tNAME_EN\tTEMPLATE\tAPPROVAL", rows)
			})
		},
	}
	list.Flags().StringVar(&listMinistry, "ministry", "", "only this ministry's registries")
	c.AddCommand(add, list)
	return c
}

func departmentCmd() *cobra.Command {
	c := group("department", "departments of ministries")
	var ministry, nameAR, nameEN, parent, head string
	add := &cobra.Command{
		Use:   "add CODE --ministry CODE --name-ar A --name-en E [--parent CODE] [--head ADDRESS]",
		Short: "add a department of a ministry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				d, err := e.Workflow.AddDepartment(ctx, workflow.OperatorActor(actor), workflow.Department{
					Code: args[0], Ministry: ministry, NameAR: nameAR, NameEN: nameEN, Parent: parent, Head: head,
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added department %s (ministry %s)\n", d.Code, d.Ministry)
				return nil
			})
		},
	}
	add.Flags().StringVar(&ministry, "ministry", "", "code of the ministry")
	add.Flags().StringVar(&nameAR, "name-ar", "", "Arabic name")
	add.Flags().StringVar(&nameEN, "name-en", "", "English name")
	add.Flags().StringVar(&parent, "parent", "", "code of the department above it")
	add.Flags().StringVar(&head, "head", "", "address of its head (a user with the head role)")

	var listMinistry string
	list := &cobra.Command{
		Use:   "list",
		Short: "list departments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				ds, err := e.Workflow.Departments(ctx, workflow.OperatorActor(actor), listMinistry)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, d := range ds {
					rows = append(rows, []string{d.Ministry, d.Code, d.Parent, d.Head, d.NameAR, d.NameEN})
				}
				return table(cmd.OutOrStdout(), "MINISTRY\tCODE\tPARENT\tHEAD\tNAME_AR\tNAME_EN", rows)
			})
		},
	}
	list.Flags().StringVar(&listMinistry, "ministry", "", "only this ministry's departments")
	c.AddCommand(add, list)
	return c
}

func memberCmd() *cobra.Command {
	var registry, removeRegistry, department, clearance string
	c := &cobra.Command{
		Use:   "member ADDRESS [--registry CODE] [--department CODE] [--clearance normal|confidential|secret]",
		Short: "where a user works and what they may read; without flags, show it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch := workflow.MembershipChange{AddRegistry: registry, RemoveRegistry: removeRegistry,
				Clearance: workflow.Clearance(clearance)}
			if cmd.Flags().Changed("department") {
				ch.Department = &department
			}
			if cmd.Flags().Changed("clearance") && strings.TrimSpace(clearance) == "" {
				return fmt.Errorf("member: --clearance needs a value: normal, confidential or secret")
			}
			return withEnv(cmd, func(ctx context.Context, e *app.Env, actor string) error {
				a := workflow.OperatorActor(actor)
				var m workflow.Membership
				var err error
				if ch == (workflow.MembershipChange{}) {
					m, err = e.Workflow.Membership(ctx, a, args[0])
				} else {
					m, err = e.Workflow.SetMembership(ctx, a, args[0], ch)
				}
				if err != nil {
					return err
				}
				dep := m.Department
				if dep == "" {
					dep = "-"
				}
				regs := strings.Join(m.Registries, ",")
				if regs == "" {
					regs = "-"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ministry %s, registries %s, department %s, clearance %s\n",
					m.User, m.Ministry, regs, dep, m.Clearance)
				return nil
			})
		},
	}
	c.Flags().StringVar(&registry, "registry", "", "make the user a clerk of this registry (they need the clerk role)")
	c.Flags().StringVar(&removeRegistry, "remove-registry", "", "end the user's clerkship at this registry")
	c.Flags().StringVar(&department, "department", "", "the user's department (empty: none)")
	c.Flags().StringVar(&clearance, "clearance", "", "normal, confidential or secret")
	return c
}
