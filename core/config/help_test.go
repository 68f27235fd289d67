package config

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// helpLine finds the help line of a flag: it starts with "--name" after the indentation.
func helpLine(help, name string) string {
	re := regexp.MustCompile(`(?m)^   --` + regexp.QuoteMeta(name) + `\b[^\n]*$`)
	return re.FindString(help)
}

func TestHelpListsEveryOption(t *testing.T) {
	var sc schedulerConfig
	var mc managerConfigs
	commands := []*Command{schedulerCommand(&sc), guiCommand(&guiConfig{}), topCommand(&topConfig{}), objectStorageCommand(&objectStorageConfig{})}
	wm := workerManagerCommand(&mc)
	if err := wm.Validate(); err != nil {
		t.Fatal(err)
	}
	commands = append(commands, wm.Subcommands...)
	for _, cmd := range commands {
		t.Run(cmd.Name, func(t *testing.T) {
			var out bytes.Buffer
			if err := cmd.Help(&out); err != nil {
				t.Fatal(err)
			}
			help := out.String()
			for _, s := range cmd.specs {
				if s.positional {
					if !strings.Contains(help, "<"+s.tomlKey+">") {
						t.Errorf("help lacks argument <%s>", s.tomlKey)
					}
					continue
				}
				line := helpLine(help, s.name)
				if s.hidden {
					if line != "" || strings.Contains(help, "-"+s.name) {
						t.Errorf("hidden flag --%s shown: %q", s.name, line)
					}
					continue
				}
				if line == "" {
					t.Errorf("help lacks --%s", s.name)
					continue
				}
				if s.short != "" && !strings.Contains(line, "--"+s.name+", -"+s.short) {
					t.Errorf("--%s line lacks its short alias -%s: %q", s.name, s.short, line)
				}
				if d := s.val.defaultText(); d != "" && !s.required && !strings.Contains(line, "(default: "+d+")") {
					t.Errorf("--%s line lacks its default %q: %q", s.name, d, line)
				}
				if s.required && !strings.Contains(line, "(required)") {
					t.Errorf("--%s line does not say required: %q", s.name, line)
				}
				if s.env != "" && !strings.Contains(line, "[$"+s.env+"]") {
					t.Errorf("--%s line lacks its environment variable: %q", s.name, line)
				}
				if !strings.Contains(line, s.usage) {
					t.Errorf("--%s line lacks its usage: %q", s.name, line)
				}
			}
			for _, want := range []string{"--config, -c FILE", "--help, -h", "USAGE:\n   " + cmd.usageLine(), cmd.sectionRef()} {
				if !strings.Contains(help, want) {
					t.Errorf("help lacks %q", want)
				}
			}
		})
	}
}

func TestHelpGroupOrder(t *testing.T) {
	var out bytes.Buffer
	if err := schedulerCommand(&schedulerConfig{}).Help(&out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	last := -1
	for _, title := range []string{"ARGUMENTS:", "Scheduler:", "Policy:", "Logging:", "TLS:", "General:"} {
		i := strings.Index(help, "\n"+title+"\n")
		if i < 0 {
			i = strings.Index(help, "\n"+title)
		}
		if i <= last {
			t.Errorf("group %q out of declaration order (at %d, previous at %d)", title, i, last)
		}
		last = i
	}
	// Options inside a group keep declaration order too.
	if a, b := strings.Index(help, "--object-storage-address"), strings.Index(help, "--client-timeout-seconds"); a < 0 || b < a {
		t.Errorf("flags out of declaration order: %d %d", a, b)
	}
	if got := helpLine(help, "policy-content"); !strings.Contains(got, `(default: "allocate=even_load; scaling=vanilla")`) {
		t.Errorf("text default not quoted: %q", got)
	}
}
