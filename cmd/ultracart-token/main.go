// Command ultracart-token gets an UltraCart OAuth 2.0 token, keeps it in a
// file and prints a valid access token for scripts:
//
//	ultracart-token login                 # authorize in the browser (or --device)
//	curl -H "Authorization: Bearer $(ultracart-token token)" \
//	     -H "X-UltraCart-Api-Version: 2017-03-01" \
//	     https://secure.ultracart.com/rest/v2/item/items
//	ultracart-token status                # where the token is, when it expires
//	ultracart-token revoke                # revoke it and remove the file
//	ultracart-token demo                  # all of the above against a fake UltraCart
//
// Run "ultracart-token --help" for the flags and their environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the program at once
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line was wrong
)

// httpTimeout bounds each request the tool makes to UltraCart.
const httpTimeout = 30 * time.Second

// env is what a command reads and writes besides its flags.
type env struct {
	stdout io.Writer
	stderr io.Writer
	// browser opens a URL for the person at the terminal; nil opens none.
	browser func(url string)
}

// command is one subcommand of the tool.
type command struct {
	name    string
	alias   string
	summary string
	// flags is which option groups the command takes.
	flags flagGroup
	run   func(ctx context.Context, o *options, e *env) error
}

var commands = []*command{
	{name: "login", summary: "authorize in the browser (or with --device) and save the token", flags: clientFlags | fileFlags | loginFlags, run: runLogin},
	{name: "token", summary: "print a valid access token, refreshing and saving it as needed", flags: clientFlags | fileFlags | tokenFlags, run: runToken},
	{name: "status", summary: "show the token file, the expiry, the scope and whether it can refresh", flags: fileFlags, run: runStatus},
	{name: "revoke", alias: "logout", summary: "revoke the token at UltraCart and remove the token file", flags: clientFlags | fileFlags, run: runRevoke},
	{name: "demo", summary: "run login, an API call, a refresh, a restart and revoke against a fake UltraCart", run: runDemo},
}

func lookup(name string) *command {
	for _, c := range commands {
		if name == c.name || (c.alias != "" && name == c.alias) {
			return c
		}
	}
	return nil
}

// run runs the tool with args (without the program name) and returns its
// exit status. getenv reads the environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if getenv("CI") == "" {
		e.browser = openBrowser
	}
	if len(args) == 0 {
		toolUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		toolUsage(stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			toolUsage(stdout)
			return exitOK
		}
		args = []string{args[1], "--help"}
	}
	cmd := lookup(args[0])
	if cmd == nil {
		fmt.Fprintf(stderr, "ultracart-token: unknown command %q\nRun 'ultracart-token --help' for usage.\n", args[0])
		return exitUsage
	}
	o, err := parseFlags(cmd, args[1:], getenv)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(stdout, cmd)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "ultracart-token: %s: %v\nRun 'ultracart-token %s --help' for usage.\n", cmd.name, err, cmd.name)
		return exitUsage
	}
	if err := cmd.run(ctx, o, e); err != nil {
		fmt.Fprintf(stderr, "ultracart-token: %v\n", err)
		if errors.As(err, new(usageError)) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// usageError is a mistake on the command line found after parsing.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagGroup is a set of options that commands share.
type flagGroup int

const (
	clientFlags flagGroup = 1 << iota // --client-id, --client-secret, --endpoint
	fileFlags                         // --token-file
	loginFlags                        // --redirect-url, --scopes, --device, --no-browser, --timeout
	tokenFlags                        // --refresh
)

// options are the parsed flags, with the environment filled in.
type options struct {
	clientID     string
	clientSecret string
	endpoint     string
	tokenFile    string
	redirectURL  string
	scopes       string
	device       bool
	noBrowser    bool
	timeout      time.Duration
	refresh      bool
}

// flagHelp describes one flag in the usage text.
type flagHelp struct {
	group     flagGroup
	name, arg string
	envVar    string
	help      string
}

var flagHelps = []flagHelp{
	{group: clientFlags, name: "client-id", arg: "ID", envVar: "ULTRACART_CLIENT_ID", help: "the application's client id (required)"},
	{group: clientFlags, name: "client-secret", arg: "SECRET", envVar: "ULTRACART_CLIENT_SECRET", help: "the application's client secret, if it has one"},
	{group: loginFlags, name: "redirect-url", arg: "URL", envVar: "ULTRACART_REDIRECT_URL", help: "the loopback callback URL, e.g. http://127.0.0.1:8765/callback\n(default: a random port on 127.0.0.1)"},
	{group: loginFlags, name: "scopes", arg: "LIST", envVar: "ULTRACART_SCOPES", help: "scopes to ask for, separated by commas or spaces, e.g. item_read,order_read\n(default: the scopes of the application profile)"},
	{group: loginFlags, name: "device", help: "use the device flow: print a URL and a code to enter there"},
	{group: loginFlags, name: "no-browser", help: "do not try to open a browser (never done when CI is set)"},
	{group: loginFlags, name: "timeout", arg: "DURATION", help: "give up waiting for the authorization after this long (default 5m)"},
	{group: tokenFlags, name: "refresh", help: "refresh the token now, even if it looks valid (UltraCart rejected it)"},
	{group: fileFlags, name: "token-file", arg: "PATH", envVar: "ULTRACART_TOKEN_FILE", help: "where the token is kept\n(default: ultracart/token.json in the user's config directory)"},
	{group: clientFlags, name: "endpoint", arg: "URL", envVar: "ULTRACART_ENDPOINT", help: "advanced: the REST API base URL, for a sandbox or a fake\n(default: https://secure.ultracart.com/rest/v2)"},
}

// parseFlags parses the flags of cmd, then fills what they left empty from
// the environment and the defaults.
func parseFlags(cmd *command, args []string, getenv func(string) string) (*options, error) {
	o := &options{timeout: 5 * time.Minute}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the errors and the usage
	if cmd.flags&clientFlags != 0 {
		fs.StringVar(&o.clientID, "client-id", "", "")
		fs.StringVar(&o.clientSecret, "client-secret", "", "")
		fs.StringVar(&o.endpoint, "endpoint", "", "")
	}
	if cmd.flags&fileFlags != 0 {
		fs.StringVar(&o.tokenFile, "token-file", "", "")
	}
	if cmd.flags&loginFlags != 0 {
		fs.StringVar(&o.redirectURL, "redirect-url", "", "")
		fs.StringVar(&o.scopes, "scopes", "", "")
		fs.BoolVar(&o.device, "device", false, "")
		fs.BoolVar(&o.noBrowser, "no-browser", false, "")
		fs.DurationVar(&o.timeout, "timeout", o.timeout, "")
	}
	if cmd.flags&tokenFlags != 0 {
		fs.BoolVar(&o.refresh, "refresh", false, "")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, f := range []struct {
		v      *string
		envVar string
	}{
		{&o.clientID, "ULTRACART_CLIENT_ID"},
		{&o.clientSecret, "ULTRACART_CLIENT_SECRET"},
		{&o.endpoint, "ULTRACART_ENDPOINT"},
		{&o.tokenFile, "ULTRACART_TOKEN_FILE"},
		{&o.redirectURL, "ULTRACART_REDIRECT_URL"},
		{&o.scopes, "ULTRACART_SCOPES"},
	} {
		if *f.v == "" {
			*f.v = strings.TrimSpace(getenv(f.envVar))
		}
	}
	if cmd.flags&clientFlags != 0 && o.clientID == "" {
		return nil, errors.New("no client id: pass --client-id or set ULTRACART_CLIENT_ID")
	}
	if o.endpoint != "" {
		u, err := url.Parse(o.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("--endpoint must be an http or https URL, such as https://secure.ultracart.com/rest/v2")
		}
	}
	if o.timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	if cmd.flags&fileFlags != 0 && o.tokenFile == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("no token file: pass --token-file or set ULTRACART_TOKEN_FILE (%v)", err)
		}
		o.tokenFile = filepath.Join(dir, "ultracart", "token.json")
	}
	return o, nil
}

// config returns the OAuth 2.0 configuration the options describe.
func (o *options) config() *ultracart.Config {
	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID:     o.clientID,
		ClientSecret: o.clientSecret,
		RedirectURL:  o.redirectURL,
		Scopes: strings.FieldsFunc(o.scopes, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\n'
		}),
	}}
	if o.endpoint != "" {
		conf.Endpoint = ultracart.EndpointAt(o.endpoint)
	}
	return conf
}

// withHTTPClient returns ctx carrying the HTTP client the package uses for
// every request: the default transport, with a time limit per request.
func withHTTPClient(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: httpTimeout})
}

func toolUsage(w io.Writer) {
	fmt.Fprint(w, `ultracart-token gets an UltraCart OAuth 2.0 token, keeps it in a file and
prints a valid access token for scripts.

Usage:
  ultracart-token <command> [flags]

Commands:
`)
	for _, c := range commands {
		name := c.name
		if c.alias != "" {
			name += ", " + c.alias
		}
		fmt.Fprintf(w, "  %-16s %s\n", name, c.summary)
	}
	fmt.Fprint(w, `
Run 'ultracart-token <command> --help' for the flags of a command.

Example:
  ultracart-token login --client-id YOUR_CLIENT_ID
  curl -H "Authorization: Bearer $(ultracart-token token)" \
       -H "X-UltraCart-Api-Version: 2017-03-01" \
       https://secure.ultracart.com/rest/v2/item/items

Exit status: 0 on success, 1 when the command fails, 2 for a usage error.
`)
}

func commandUsage(w io.Writer, cmd *command) {
	name := cmd.name
	if cmd.alias != "" {
		name += " (or " + cmd.alias + ")"
	}
	fmt.Fprintf(w, "Usage: ultracart-token %s [flags]\n\n%s.\n", name, upperFirst(cmd.summary))
	if cmd.flags == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	for _, f := range flagHelps {
		if cmd.flags&f.group == 0 {
			continue
		}
		fmt.Fprintf(w, "  --%s", f.name)
		if f.arg != "" {
			fmt.Fprintf(w, " %s", f.arg)
		}
		fmt.Fprintln(w)
		help := f.help
		if f.envVar != "" {
			help += " [$" + f.envVar + "]"
		}
		for line := range strings.SplitSeq(help, "\n") {
			fmt.Fprintf(w, "        %s\n", line)
		}
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
