// Command ultracart-token gets an UltraCart OAuth 2.0 token, keeps it in a
// file and prints a valid access token for scripts. Install it with
//
//	go install github.com/ultracart-go/ultracart/cmd/ultracart-token@latest
//
// (from a clone of the repository: go install ./cmd/ultracart-token). Then:
//
//	ultracart-token login --client-id ID  # authorize in the browser (or --device)
//	curl -H "Authorization: Bearer $(ultracart-token token)" \
//	     -H "X-UltraCart-Api-Version: 2017-03-01" \
//	     https://secure.ultracart.com/rest/v2/item/items
//	ultracart-token status                # where the token is, when it expires
//	ultracart-token revoke                # revoke it and remove the file
//	ultracart-token demo                  # all of the above against a fake UltraCart
//
// Login needs the application's client id (--client-id or
// ULTRACART_CLIENT_ID, from the application's profile at UltraCart) and, if
// the application has one, its client secret (ULTRACART_CLIENT_SECRET or
// --client-secret-file, never a flag, since flags show in ps). It remembers
// the client id and endpoint once for every profile, so the other commands,
// and the login of another merchant, need no flags; logout keeps them, and
// logout --forget-client forgets them.
//
// The token is kept in ultracart/token.json in the user's configuration
// directory (os.UserConfigDir: ~/.config on Linux, ~/Library/Application
// Support on macOS, %AppData% on Windows), readable by the user alone;
// --token-file (ULTRACART_TOKEN_FILE) puts it elsewhere, and --merchant NAME
// (ULTRACART_MERCHANT) keeps one token per merchant in merchants/NAME.json
// beside it.
//
// "ultracart-token --help" lists every command, flag and environment
// variable; "ultracart-token COMMAND --help", those of one command.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
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
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1   // the command ran and failed
	exitUsage       = 2   // the command line was wrong
	exitInterrupted = 130 // Ctrl-C, as shells report 128+SIGINT
)

// httpTimeout bounds each request the tool makes to UltraCart.
const httpTimeout = 30 * time.Second

// env is what a command reads and writes besides its flags.
type env struct {
	stdin  io.Reader
	stdout io.Writer // redacted, as stderr is
	stderr io.Writer
	// tokenOut is stdout unredacted, for the token command's token alone.
	tokenOut io.Writer
	// redact learns the secrets the command meets and removes them from
	// stdout and stderr.
	redact *redactor
	// browser opens a URL for the person at the terminal; nil opens none.
	browser func(url string)
}

// command is one subcommand of the tool.
type command struct {
	name    string
	alias   string
	summary string
	// args names the positional arguments the command takes; "" for none.
	args string
	// flags is which option groups the command takes.
	flags flagGroup
	run   func(ctx context.Context, o *options, e *env) error
}

var commands []*command

func init() {
	// In init, since runCompletion reads the table.
	commands = []*command{
		{name: "login", summary: "authorize in the browser (or with --device) and save the token", flags: clientFlags | fileFlags | loginFlags, run: runLogin},
		{name: "token", summary: "print a valid access token, refreshing and saving it as needed", flags: clientFlags | fileFlags | tokenFlags, run: runToken},
		{name: "status", summary: "show the token file, the client, the expiry, the scope and whether it can refresh", flags: appFlags | fileFlags | statusFlags, run: runStatus},
		{name: "revoke", alias: "logout", summary: "revoke the token at UltraCart and remove the token file", flags: clientFlags | fileFlags | revokeFlags, run: runRevoke},
		{name: "demo", summary: "run login, an API call, a refresh, a restart and revoke against a fake UltraCart", run: runDemo},
		{name: "version", summary: "print the version of ultracart-token", run: runVersion},
		{name: "completion", args: "bash|zsh", summary: "print the shell completion script for bash or zsh", run: runCompletion},
	}
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
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	redact := &redactor{}
	redact.add(getenv("ULTRACART_CLIENT_SECRET"))
	stderr = redact.writer(stderr)
	e := &env{stdin: stdin, stdout: redact.writer(stdout), stderr: stderr, tokenOut: stdout, redact: redact}
	if getenv("CI") == "" {
		e.browser = openBrowser
	}
	// Flags before the command are the command's, as gh's are.
	global, args, err := splitGlobal(args)
	if err != nil {
		fmt.Fprintf(stderr, "ultracart-token: %s\nRun 'ultracart-token --help' for usage.\n", message(err))
		return exitUsage
	}
	for _, f := range global {
		switch f {
		case "-h", "-help", "--help":
			toolUsage(stdout)
			return exitOK
		case "-v", "-version", "--version":
			global, args = nil, []string{"version"}
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, "ultracart-token: missing command\n")
		shortUsage(stderr)
		return exitUsage
	}
	if args[0] == "help" {
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
	o, err := parseFlags(cmd, append(global, args[1:]...), getenv)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(stdout, cmd)
		return exitOK
	}
	if nl := (notLoggedIn{}); errors.As(err, &nl) {
		fmt.Fprintf(stderr, "ultracart-token: %s\n", nl.msg)
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "ultracart-token: %s: %s\nRun 'ultracart-token %s --help' for usage.\n", cmd.name, message(err), cmd.name)
		return exitUsage
	}
	if cmd.flags&secretFlags != 0 {
		if err := o.readSecret(stdin); err != nil {
			fmt.Fprintf(stderr, "ultracart-token: %s: %s\n", cmd.name, message(err))
			return exitUsage
		}
		redact.add(o.clientSecret)
	}
	if err := cmd.run(ctx, o, e); err != nil {
		if errors.Is(err, errReported) {
			return exitFailure
		}
		fmt.Fprintf(stderr, "ultracart-token: %s\n", message(explain(err, o)))
		switch {
		case ctx.Err() != nil:
			return exitInterrupted
		case errors.As(err, new(usageError)):
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// errReported is returned by a command that has told the user already.
var errReported = errors.New("reported")

// message is the text of err for the terminal: the library's "ultracart: "
// prefixes dropped, since the tool's own prefix comes first.
func message(err error) string {
	return strings.ReplaceAll(err.Error(), "ultracart: ", "")
}

// notLoggedIn is the error of parseFlags when there is neither a token
// nor a client id: not a mistake on the command line, but no login yet.
type notLoggedIn struct{ msg string }

func (e notLoggedIn) Error() string { return e.msg }

// usageError is a mistake on the command line found after parsing.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagGroup is a set of options that commands share.
type flagGroup int

const (
	appFlags    flagGroup = 1 << iota // --client-id, --endpoint
	secretFlags                       // --client-secret-file
	fileFlags                         // --merchant, --token-file
	loginFlags                        // --redirect-url, --scopes, --device, --no-browser, --timeout
	tokenFlags                        // --refresh
	statusFlags                       // --json
	revokeFlags                       // --forget-client

	// clientFlags are the options of a command that talks to UltraCart.
	clientFlags = appFlags | secretFlags
)

// options are the parsed flags, with the environment and what login
// remembered filled in.
type options struct {
	clientID         string
	clientSecret     string
	clientSecretFile string
	endpoint         string
	merchant         string
	tokenFile        string
	appFile          string // where login remembers the client id and endpoint
	redirectURL      string
	scopes           string
	device           bool
	noBrowser        bool
	timeout          time.Duration
	refresh          bool
	json             bool
	forgetClient     bool
	args             []string // positional arguments, for a command that takes them

	// flagged is which option names were set on the command line.
	flagged map[string]bool
}

// option is one flag and/or environment variable. This table is the only
// place an option is written: parseFlags registers the flags and reads the
// environment from it, and the help texts are made from it.
type option struct {
	group  flagGroup
	name   string // the flag, without dashes; "" for an environment variable only
	arg    string // the value's placeholder in the help; "" for a boolean flag
	envVar string // "" for a flag only
	help   string
	field  func(o *options) any // *string, *bool or *time.Duration
}

var optionTable = []option{
	{group: appFlags, name: "client-id", arg: "ID", envVar: "ULTRACART_CLIENT_ID",
		help:  "the application's client id (login remembers it, with --endpoint, for every profile)",
		field: func(o *options) any { return &o.clientID }},
	{group: secretFlags, envVar: "ULTRACART_CLIENT_SECRET",
		help:  "the application's client secret, if it has one; never a flag, since\nflags show in ps and in the shell history, and never saved",
		field: func(o *options) any { return &o.clientSecret }},
	{group: secretFlags, name: "client-secret-file", arg: "PATH", envVar: "ULTRACART_CLIENT_SECRET_FILE",
		help:  "read the client secret from this file, or from stdin with -",
		field: func(o *options) any { return &o.clientSecretFile }},
	{group: loginFlags, name: "redirect-url", arg: "URL", envVar: "ULTRACART_REDIRECT_URL",
		help:  "the loopback callback URL, e.g. http://127.0.0.1:8765/callback\n(default: a random port on 127.0.0.1)",
		field: func(o *options) any { return &o.redirectURL }},
	{group: loginFlags, name: "scopes", arg: "LIST", envVar: "ULTRACART_SCOPES",
		help:  "scopes to ask for, separated by commas or spaces, e.g. item_read,order_read\n(default: the scopes of the application profile; --device needs them)",
		field: func(o *options) any { return &o.scopes }},
	{group: loginFlags, name: "device",
		help:  "use the device flow: print a URL and a code to enter there",
		field: func(o *options) any { return &o.device }},
	{group: loginFlags, name: "no-browser",
		help:  "do not try to open a browser (never done when CI is set)",
		field: func(o *options) any { return &o.noBrowser }},
	{group: loginFlags, name: "timeout", arg: "DURATION",
		help:  "give up waiting for the authorization after this long, e.g. 90s (default 5m)",
		field: func(o *options) any { return &o.timeout }},
	{group: tokenFlags, name: "refresh",
		help:  "refresh the token now, even if it looks valid (UltraCart rejected it)",
		field: func(o *options) any { return &o.refresh }},
	{group: statusFlags, name: "json",
		help:  "print a JSON object (never a secret): logged_in, merchant, token_file, client_id,\nendpoint, expiry, expired, scope, refreshable, merchants, error",
		field: func(o *options) any { return &o.json }},
	{group: fileFlags, name: "merchant", arg: "NAME", envVar: "ULTRACART_MERCHANT",
		help:  "use the token of this merchant profile: merchants/NAME.json in the directory\nof the default token file; status lists the profiles",
		field: func(o *options) any { return &o.merchant }},
	{group: fileFlags, name: "token-file", arg: "PATH", envVar: "ULTRACART_TOKEN_FILE",
		help:  "where the token is kept\n(default: ultracart/token.json in the user's config directory)",
		field: func(o *options) any { return &o.tokenFile }},
	{group: appFlags, name: "endpoint", arg: "URL", envVar: "ULTRACART_ENDPOINT",
		help:  "advanced: the REST API base URL, ending in /rest/v2, for a sandbox or a fake\n(login remembers it); plain http only on this machine (default: " + defaultEndpoint + ")",
		field: func(o *options) any { return &o.endpoint }},
	{group: revokeFlags, name: "forget-client",
		help:  "also forget the client id and endpoint that login remembered for every profile",
		field: func(o *options) any { return &o.forgetClient }},
}

// defaultEndpoint is the REST API base URL of UltraCart.
const defaultEndpoint = "https://secure.ultracart.com/rest/v2"

// merchantName is what a --merchant profile name may be: it becomes a file
// name.
var merchantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// parseFlags parses the flags of cmd, then fills what they left empty from
// the environment, from what login remembered and from the defaults.
func parseFlags(cmd *command, args []string, getenv func(string) string) (*options, error) {
	o := &options{timeout: 5 * time.Minute, flagged: map[string]bool{}}
	if err := refuseSecretFlag(args); err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the errors and the usage
	for _, f := range optionTable {
		if cmd.flags&f.group == 0 || f.name == "" {
			continue
		}
		switch p := f.field(o).(type) {
		case *string:
			fs.StringVar(p, f.name, *p, "")
		case *bool:
			fs.BoolVar(p, f.name, *p, "")
		case *time.Duration:
			fs.DurationVar(p, f.name, *p, "")
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, flagError(err, args)
	}
	fs.Visit(func(f *flag.Flag) { o.flagged[f.Name] = true })
	o.args = fs.Args()
	if cmd.args == "" && fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, f := range optionTable {
		if p, ok := f.field(o).(*string); ok && cmd.flags&f.group != 0 && f.envVar != "" && *p == "" {
			*p = strings.TrimSpace(getenv(f.envVar))
		}
	}
	if o.timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	if o.device && o.scopes == "" {
		return nil, errors.New("--device needs --scopes (or ULTRACART_SCOPES): the device flow asks UltraCart for a scope, such as --scopes item_read")
	}
	if cmd.flags&fileFlags != 0 {
		if err := o.chooseTokenFile(getenv); err != nil {
			return nil, err
		}
	}
	if cmd.flags&appFlags != 0 {
		if err := o.fillClient(cmd); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// splitGlobal splits the flags before the command from the command and
// what follows it. An unknown flag there is an error: whether it takes a
// value, and so which word is the command, is unknown.
func splitGlobal(args []string) (flags, rest []string, err error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" && args[0] != "--" {
		a := args[0]
		if err := refuseSecretFlag(args[:1]); err != nil {
			return nil, nil, err
		}
		flags, args = append(flags, a), args[1:]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		i := slices.IndexFunc(optionTable, func(f option) bool { return f.name == name })
		switch {
		case slices.Contains([]string{"h", "help", "v", "version"}, name):
			continue
		case i < 0:
			typed, _, _ := strings.Cut(a, "=")
			return nil, nil, fmt.Errorf("flag provided but not defined: %s", typed)
		case optionTable[i].arg == "" || hasValue:
			continue
		}
		if len(args) == 0 {
			return nil, nil, fmt.Errorf("flag needs an argument: %s", a)
		}
		flags, args = append(flags, args[0]), args[1:]
	}
	return flags, args, nil
}

// refuseSecretFlag refuses --client-secret without repeating its value.
func refuseSecretFlag(args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "client-secret" {
			return errors.New("--client-secret is not accepted: a secret on the command line shows in ps and in the shell history; " +
				"set ULTRACART_CLIENT_SECRET or pass --client-secret-file PATH (- for stdin)")
		}
	}
	return nil
}

// flagDash matches a flag name in the flag package's errors, which write
// flags with one dash.
var flagDash = regexp.MustCompile(`(^|[\s(])-([a-zA-Z][a-zA-Z0-9-]*)`)

// flagError rewrites an error of the flag package with flags written as
// they were typed in args, or else --flag, as the help writes them.
func flagError(err error, args []string) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := flagDash.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := flagDash.FindStringSubmatch(m)
		for _, a := range args {
			if a == "--" {
				break
			}
			typed, _, _ := strings.Cut(a, "=")
			if strings.HasPrefix(a, "-") && strings.TrimLeft(typed, "-") == sub[2] {
				return sub[1] + typed
			}
		}
		return sub[1] + "--" + sub[2]
	})
	if strings.Contains(msg, "--timeout") {
		msg += " (a duration such as 90s or 5m)"
	}
	return errors.New(msg)
}

// chooseTokenFile picks the token file: --token-file, then --merchant, then
// ULTRACART_TOKEN_FILE, then ULTRACART_MERCHANT, then the default.
func (o *options) chooseTokenFile(getenv func(string) string) error {
	if o.flagged["token-file"] && o.flagged["merchant"] {
		return errors.New("pass --token-file or --merchant, not both")
	}
	if o.merchant != "" && !merchantName.MatchString(o.merchant) {
		return fmt.Errorf("--merchant %q: a profile name is letters, digits, - and _ (at most 64)", o.merchant)
	}
	switch {
	case o.flagged["token-file"]:
		o.merchant = ""
	case o.flagged["merchant"]:
		o.tokenFile = ""
	case o.tokenFile != "":
		o.merchant = ""
	}
	if o.tokenFile != "" {
		o.appFile = clientFile(o.tokenFile)
		return nil
	}
	dir, err := configDir()
	if err != nil {
		return fmt.Errorf("no token file: pass --token-file or set ULTRACART_TOKEN_FILE (%v)", err)
	}
	o.appFile = clientFile(filepath.Join(dir, "token.json"))
	if o.merchant != "" {
		o.tokenFile = filepath.Join(dir, "merchants", o.merchant+".json")
	} else {
		o.tokenFile = filepath.Join(dir, "token.json")
	}
	return nil
}

// configDir is the tool's directory in the user's config directory.
func configDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ultracart"), nil
}

// fillClient completes the client id and endpoint from what login
// remembered, which belong together: an override of one without the other
// is refused, so that no token goes to another endpoint, or as another
// client, unasked. A command that talks to UltraCart needs a client id.
func (o *options) fillClient(cmd *command) error {
	if o.endpoint != "" {
		if err := checkEndpoint(o.endpoint); err != nil {
			return fmt.Errorf("--endpoint %s: %w", o.endpoint, err)
		}
	}
	saved, err := loadClientFile(o.appFile)
	if err != nil {
		return err
	}
	remembered := fmt.Sprintf("login remembered client id %q with endpoint %s; pass --client-id and --endpoint together "+
		"(or ULTRACART_CLIENT_ID and ULTRACART_ENDPOINT), or neither", saved.ClientID, orDefault(saved.Endpoint))
	switch {
	case saved.ClientID == "" || (o.clientID != "" && o.endpoint != ""):
		// Nothing remembered, or both given.
	case o.endpoint == "" && (o.clientID == "" || o.clientID == saved.ClientID || saved.Endpoint == ""):
		o.clientID = cmp.Or(o.clientID, saved.ClientID)
		o.endpoint = saved.Endpoint
		if o.endpoint != "" {
			if err := checkEndpoint(o.endpoint); err != nil {
				return fmt.Errorf("the endpoint %s remembered in %s: %w", o.endpoint, o.appFile, err)
			}
		}
	case o.endpoint == "":
		return fmt.Errorf("client id %q without its endpoint: %s", o.clientID, remembered)
	case o.clientID == "" && strings.TrimRight(o.endpoint, "/") == strings.TrimRight(orDefault(saved.Endpoint), "/"):
		o.clientID = saved.ClientID
	default:
		return fmt.Errorf("endpoint %s without its client id: %s", o.endpoint, remembered)
	}
	if o.clientID != "" || cmd.flags&secretFlags == 0 {
		return nil
	}
	if _, err := os.Stat(o.tokenFile); cmd.name != "login" && errors.Is(err, fs.ErrNotExist) {
		return notLoggedIn{message(tokenError(ultracart.ErrNoToken, o))}
	}
	return errors.New("no client id: pass --client-id or set ULTRACART_CLIENT_ID (login remembers it)")
}

// checkEndpoint says what is wrong with a REST API base URL, if anything:
// https, or plain http on this machine (as RFC 8252 allows for loopback
// redirects), ending in /rest/v2.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("must be an https URL, such as %s", defaultEndpoint)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("plain http is only for this machine (127.0.0.1, ::1, localhost): the tokens and the client secret would cross the network in clear; use https, such as %s", defaultEndpoint)
	case !strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/rest/v2") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("must end in /rest/v2, the base of the REST API, such as %s", defaultEndpoint)
	}
	return nil
}

// orDefault is endpoint, or UltraCart's when it is empty.
func orDefault(endpoint string) string { return cmp.Or(endpoint, defaultEndpoint) }

// readSecret reads the client secret from --client-secret-file, when given.
func (o *options) readSecret(stdin io.Reader) error {
	if o.clientSecretFile == "" {
		return nil
	}
	var b []byte
	var err error
	if o.clientSecretFile == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	} else {
		b, err = os.ReadFile(o.clientSecretFile)
	}
	if err != nil {
		return usageError{fmt.Sprintf("--client-secret-file: %v", err)}
	}
	o.clientSecret = strings.TrimSpace(string(b))
	if o.clientSecret == "" {
		return usageError{"--client-secret-file: the file is empty"}
	}
	return nil
}

// endpointURL is the REST API base URL in use.
func (o *options) endpointURL() string { return orDefault(o.endpoint) }

// loginCommand is the login command line that logs in the profile of o
// again: a hint repeats the flags that select the profile.
func (o *options) loginCommand() string {
	cmd := "ultracart-token login"
	switch {
	case o.merchant != "":
		cmd += " --merchant " + o.merchant
	case o.flagged["token-file"]:
		cmd += " --token-file " + shellQuote(o.tokenFile)
	}
	if o.clientID == "" {
		cmd += " --client-id ID"
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

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
// every request: with a time limit per request, and the default transport
// unless ctx already carries a client, whose transport it keeps (a test's).
func withHTTPClient(ctx context.Context) context.Context {
	c := &http.Client{Timeout: httpTimeout}
	if given, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok {
		c.Transport = given.Transport
	}
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// shortUsage is the usage for a command line without a command.
func shortUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: ultracart-token <command> [flags]\n\nCommands:\n")
	writeCommands(w)
	fmt.Fprint(w, "\nRun 'ultracart-token --help' for the flags and environment variables, 'ultracart-token <command> --help' for those of one command.\n")
}

func writeCommands(w io.Writer) {
	for _, c := range commands {
		name := c.name
		if c.alias != "" {
			name += ", " + c.alias
		}
		fmt.Fprintf(w, "  %-16s %s\n", name, c.summary)
	}
}

func toolUsage(w io.Writer) {
	fmt.Fprint(w, `ultracart-token gets an UltraCart OAuth 2.0 token, keeps it in a file and
prints a valid access token for scripts.

Usage:
  ultracart-token <command> [flags]

Commands:
`)
	writeCommands(w)
	fmt.Fprint(w, "\nFlags (before or after the command; each takes those it uses, see 'ultracart-token <command> --help'):\n")
	for _, f := range optionTable {
		var users []string
		for _, c := range commands {
			if c.flags&f.group != 0 {
				users = append(users, c.name)
			}
		}
		writeOption(w, f, "for "+strings.Join(users, ", "))
	}
	fmt.Fprint(w, `  -v, --version
        print the version (also: ultracart-token version)

Example:
  ultracart-token login --client-id YOUR_CLIENT_ID
  curl -H "Authorization: Bearer $(ultracart-token token)" \
       -H "X-UltraCart-Api-Version: 2017-03-01" \
       https://secure.ultracart.com/rest/v2/item/items

Exit status: 0 on success, 1 when the command fails, 2 for a usage error,
130 when interrupted.
`)
}

// writeOption writes one option of the table for a help text.
func writeOption(w io.Writer, f option, note string) {
	if f.name == "" {
		fmt.Fprintf(w, "  $%s\n", f.envVar)
	} else {
		fmt.Fprintf(w, "  --%s", f.name)
		if f.arg != "" {
			fmt.Fprintf(w, " %s", f.arg)
		}
		fmt.Fprintln(w)
	}
	help := f.help
	if f.name != "" && f.envVar != "" {
		help += " [$" + f.envVar + "]"
	}
	if note != "" {
		help += "\n(" + note + ")"
	}
	for line := range strings.SplitSeq(help, "\n") {
		fmt.Fprintf(w, "        %s\n", line)
	}
}

func commandUsage(w io.Writer, cmd *command) {
	name := cmd.name
	if cmd.alias != "" {
		name += " (or " + cmd.alias + ")"
	}
	args := " [flags]"
	if cmd.args != "" {
		args = " " + cmd.args
	}
	fmt.Fprintf(w, "Usage: ultracart-token %s%s\n\n%s.\n", name, args, upperFirst(cmd.summary))
	if cmd.flags == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	for _, f := range optionTable {
		if cmd.flags&f.group != 0 {
			writeOption(w, f, "")
		}
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
