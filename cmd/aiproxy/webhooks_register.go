package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy webhooks register SERVICE --public-url URL (--org SLUG | --platform)
// [--upstream SERVICE=URL]: registers the gateway's receiver for SERVICE's webhooks
// (URL + /api/ai-proxy/webhooks/SERVICE/) with the provider, on the org's own account or
// the platform's, through the catalog's register action; the signing secret the provider
// answers is stored sealed, never printed. Prints the provider's endpoint id.
func cmdWebhooksRegister(ctx context.Context, sio stdio, args []string) error {
	c := newAdminCmd("webhooks register", sio)
	acct := c.accountFlags("org slug: the org's own provider account", "the platform's provider account")
	publicURL := c.fs.String("public-url", sio.envOr("AIPROXY_PUBLIC_URL", ""), "the gateway's address as the provider reaches it (https://host)")
	var ups multiFlag
	c.fs.Var(&ups, "upstream", "SERVICE=URL: the provider's address, as for serve (repeatable)")
	pos, err := c.args(args, "SERVICE")
	if err != nil {
		return err
	}
	if err := acct.check(); err != nil {
		return err
	}
	base, err := url.Parse(*publicURL)
	if *publicURL == "" || err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return usagef("webhooks register: --public-url must be the gateway's absolute http(s) address")
	}
	m, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer c.close()
	svc, err := service(m, "webhooks register", pos[0])
	if err != nil {
		return err
	}
	upstreams, err := parseUpstreams(ups, m.Catalog)
	if err != nil {
		return err
	}
	o, err := acct.resolve(ctx, m)
	if err != nil {
		return err
	}
	receiver := strings.TrimSuffix(base.String(), "/") + httpapi.DefaultPrefix + "/webhooks/" + svc.Slug + "/"
	gw := gateway.New(gateway.Config{Upstreams: upstreams, UserAgent: "aiproxy/" + version,
		CredentialHeaders: gateway.CredentialHeaderNames(m.Catalog.Services())})
	defer gw.Close()
	id, err := m.RegisterWebhook(ctx, tenancy.CLI, svc, o, receiver, httpapi.UpstreamCall(gw))
	if err != nil {
		return err
	}
	fmt.Fprintf(sio.stdout, "registered %s webhooks: %s (endpoint %s); the signing secret is stored\n", svc.Slug, receiver, id)
	return nil
}
