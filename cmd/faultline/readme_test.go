package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmeFileRE marks a README code block as a file: the comment line
// `<!-- file: NAME ... -->` right before the block.
var readmeFileRE = regexp.MustCompile(`^<!-- file: (\S+)`)

// readmeBlocks returns the files the README's code blocks define, and the
// blocks that show a faultline command (a first line `$ faultline ...`) with
// their expected output.
func readmeBlocks(t *testing.T) (files map[string]string, commands [][2]string) {
	src, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	files = map[string]string{}
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		body := lines[i+1 : j]
		switch {
		case i > 0 && readmeFileRE.MatchString(lines[i-1]):
			name := readmeFileRE.FindStringSubmatch(lines[i-1])[1]
			require.NotContains(t, files, name, "README defines %s twice", name)
			files[name] = strings.Join(body, "\n") + "\n"
		case len(body) > 0 && strings.HasPrefix(body[0], "$ faultline "):
			commands = append(commands, [2]string{strings.TrimPrefix(body[0], "$ faultline "), strings.Join(body[1:], "\n") + "\n"})
		}
		i = j
	}
	return files, commands
}

// TestReadmeExamples runs the README's examples: faultline check on every
// rule file it defines (*.rules.yaml), faultline test on every test file
// (*.test.yaml), and every `$ faultline` command it shows, whose output must
// be what the README says.
func TestReadmeExamples(t *testing.T) {
	files, commands := readmeBlocks(t)
	dir := t.TempDir()
	var ruleFiles, testFiles []string
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
		switch {
		case strings.HasSuffix(name, ".rules.yaml"):
			ruleFiles = append(ruleFiles, name)
		case strings.HasSuffix(name, ".test.yaml"):
			testFiles = append(testFiles, name)
		}
	}
	require.NotEmpty(t, ruleFiles, "the README shows rule files")
	require.NotEmpty(t, testFiles, "the README shows rule tests")
	require.NotEmpty(t, commands, "the README shows faultline commands")
	t.Chdir(dir)
	for _, f := range ruleFiles {
		code, stdout, stderr := runCLI(t, "", "check", f)
		require.Equal(t, exitOK, code, "faultline check %s:\n%s%s", f, stdout, stderr)
	}
	for _, f := range testFiles {
		code, stdout, stderr := runCLI(t, "", "test", f)
		require.Equal(t, exitOK, code, "faultline test %s:\n%s%s", f, stdout, stderr)
	}
	for _, c := range commands {
		_, stdout, stderr := runCLI(t, "", strings.Fields(c[0])...)
		require.Equal(t, c[1], stdout+stderr, "faultline %s", c[0])
	}
}
