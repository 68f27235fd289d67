package config

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/core/config/address"
)

func TestOptionModifiers(t *testing.T) {
	var c struct {
		Name    string
		Secret  string
		Only    int
		Addr    address.Address
		Workers int
		Verbose bool
	}
	cmd := &Command{Name: "tool", Usage: "test tool", Groups: []*Group{NewGroup("Tool",
		String(&c.Name, "name", "", "", "name").FlagAliases("label", "nm").TOMLAliases("old-name"),
		String(&c.Secret, "secret", "", "", "secret").Hidden().Env("TOOL_SECRET"),
		Int(&c.Only, "cli-only", "", 7, "not in files").NoTOML().Placeholder("COUNT"),
		Address(&c.Addr, "addr", "", "address").Default(address.MustParse("tcp://127.0.0.1:1")),
		Int(&c.Workers, "workers", "w", 4, "workers").DefaultText("number of CPUs"),
		Bool(&c.Verbose, "verbose", "v", "chatty"),
		Alias("loud", "", "verbose"),
	)}}
	// No Section: the whole file is the table.
	files := memFiles(map[string]string{"t.toml": "old_name = \"from-file\"\ncli_only = 3\nsecret = \"s\"\n"})
	res, err := cmd.Parse([]string{"-c", "t.toml", "--loud"}, ParseOptions{ReadFile: files, LookupEnv: envMap(map[string]string{"TOOL_SECRET": "env"})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "from-file" || c.Only != 7 || c.Secret != "env" || c.Addr.Port != 1 || c.Workers != 4 || !c.Verbose {
		t.Errorf("got %+v", c)
	}
	// A NoTOML option is not a key, so the file's cli_only is reported, not applied.
	if len(res.Warnings) != 1 || res.Warnings[0].String() != `t.toml: (top level) unknown key "cli_only" ignored` {
		t.Errorf("warnings = %v", res.Warnings)
	}
	if res.Source("nothing-like-this") != FromDefault || res.Source("verbose") != FromCommandLine {
		t.Errorf("sources: %v %v", res.Source("nothing-like-this"), res.Source("verbose"))
	}
	for _, args := range [][]string{{"--label", "x"}, {"-nm=x"}, {"--name", "x"}} {
		if _, err := cmd.Parse(args, ParseOptions{}); err != nil || c.Name != "x" {
			t.Errorf("%q: name = %q, err = %v", args, c.Name, err)
		}
	}
	var out bytes.Buffer
	if err := cmd.Help(&out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, want := range []string{"--cli-only COUNT", "(default: number of CPUs)", "(default: tcp://127.0.0.1:1)", "--verbose, -v"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	for _, hidden := range []string{"--secret", "--loud", "--label", "-nm"} {
		if strings.Contains(help, hidden) {
			t.Errorf("help shows %s:\n%s", hidden, help)
		}
	}
}

func TestSectionlessWarningsQuoteOddKeys(t *testing.T) {
	var s string
	cmd := &Command{Name: "tool", Section: "tool", Groups: []*Group{NewGroup("g", String(&s, "name", "", "", ""))}}
	res, err := cmd.Parse([]string{"-c", "t.toml"}, ParseOptions{Stdout: io.Discard, ReadFile: memFiles(map[string]string{
		"t.toml": "[\"to\\nol\"]\nx = 1\n[tool]\nname = \"n\"\n",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].String() != `t.toml: unknown section ["to\nol"] ignored; did you mean "tool"?` {
		t.Errorf("warnings = %q", res.Warnings)
	}
}
