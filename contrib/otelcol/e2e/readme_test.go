package e2e

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
	"go.yaml.in/yaml/v3"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"

	"github.com/faultline-go/faultline/contrib/otelcol/faultlineconnector"
	"github.com/faultline-go/faultline/contrib/otelcol/faultlineprocessor"
	"go.opentelemetry.io/collector/confmap"
)

// readmeFileRE marks a README code block as a file, as the repository's
// README test does: the comment line `<!-- file: NAME ... -->` before it.
var readmeFileRE = regexp.MustCompile(`^<!-- file: (\S+)`)

// readmeFiles returns the files the README's code blocks define.
func readmeFiles(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	files := map[string]string{}
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		if i > 0 && readmeFileRE.MatchString(lines[i-1]) {
			files[readmeFileRE.FindStringSubmatch(lines[i-1])[1]] = strings.Join(lines[i+1:j], "\n") + "\n"
		}
		i = j
	}
	return files
}

// manifest is the part of an ocb manifest this module's README uses,
// decoded strictly: a key the builder would not read is an error.
type manifest struct {
	Dist struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		OutputPath  string `yaml:"output_path"`
	} `yaml:"dist"`
	Receivers  []module  `yaml:"receivers"`
	Processors []module  `yaml:"processors"`
	Connectors []module  `yaml:"connectors"`
	Exporters  []module  `yaml:"exporters"`
	Extensions []module  `yaml:"extensions"`
	Providers  []module  `yaml:"providers"`
	Replaces   []string  `yaml:"replaces"`
	Telemetry  *struct{} `yaml:"telemetry"`
}

type module struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
}

// path is the package the builder imports: Import, or the module path.
func (m module) path() string {
	if m.Import != "" {
		return m.Import
	}
	return strings.Fields(m.GoMod)[0]
}

// requireRE matches a requirement of go.mod, in a require block.
var requireRE = regexp.MustCompile(`(?m)^\t(\S+) (v\S+)`)

const self = "github.com/faultline-go/faultline/contrib/otelcol"

// knownFactories are the packages a manifest may name, with their
// factories: a manifest naming another one fails the test, so the
// collector the tests run has exactly the manifest's components.
var knownFactories = map[string]any{
	"go.opentelemetry.io/collector/receiver/otlpreceiver":                                     otlpreceiver.NewFactory(),
	self + "/faultlineprocessor":                                                              faultlineprocessor.NewFactory(),
	self + "/faultlineconnector":                                                              faultlineconnector.NewFactory(),
	"go.opentelemetry.io/collector/exporter/debugexporter":                                    debugexporter.NewFactory(),
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage": filestorage.NewFactory(),
	"go.opentelemetry.io/collector/confmap/provider/envprovider":                              envprovider.NewFactory(),
	"go.opentelemetry.io/collector/confmap/provider/fileprovider":                             fileprovider.NewFactory(),
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider":                             yamlprovider.NewFactory(),
}

// readmeManifest decodes the README's manifest and checks that every
// module it names is at the version this module requires (so upgrading
// go.mod without the README fails here), and this module at v0.0.0 with
// replaces to a checkout.
func readmeManifest(t *testing.T, files map[string]string) manifest {
	t.Helper()
	text, ok := files["otelcol-builder.yaml"]
	require.True(t, ok, "the README defines otelcol-builder.yaml")
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	var m manifest
	require.NoError(t, dec.Decode(&m))
	require.NotEmpty(t, m.Dist.Name)
	gomod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	required := map[string]string{}
	for _, l := range requireRE.FindAllStringSubmatch(string(gomod), -1) {
		required[l[1]] = l[2]
	}
	all := [][]module{m.Receivers, m.Processors, m.Connectors, m.Exporters, m.Extensions, m.Providers}
	for _, mods := range all {
		for _, mod := range mods {
			f := strings.Fields(mod.GoMod)
			require.Len(t, f, 2, "gomod %q: module and version", mod.GoMod)
			if f[0] == self {
				require.Equal(t, "v0.0.0", f[1])
				continue
			}
			require.Equal(t, required[f[0]], f[1], "%s: the README's version is go.mod's", f[0])
			require.Contains(t, knownFactories, mod.path())
		}
	}
	require.Contains(t, m.Replaces, "github.com/faultline-go/faultline => ../faultline")
	require.Contains(t, m.Replaces, self+" => ../faultline/contrib/otelcol")
	return m
}

// factories returns the collector factories of the manifest's
// components, plus extra exporters and connectors of the tests.
func factories(t *testing.T, m manifest, exporters []exporter.Factory, connectors []connector.Factory) (otelcol.Factories, []confmap.ProviderFactory) {
	t.Helper()
	var f otelcol.Factories
	var err error
	var (
		recvs []receiver.Factory
		procs []processor.Factory
		conns = connectors
		exps  = exporters
		exts  []extension.Factory
		provs []confmap.ProviderFactory
	)
	for _, mod := range m.Receivers {
		recvs = append(recvs, knownFactories[mod.path()].(receiver.Factory))
	}
	for _, mod := range m.Processors {
		procs = append(procs, knownFactories[mod.path()].(processor.Factory))
	}
	for _, mod := range m.Connectors {
		conns = append(conns, knownFactories[mod.path()].(connector.Factory))
	}
	for _, mod := range m.Exporters {
		exps = append(exps, knownFactories[mod.path()].(exporter.Factory))
	}
	for _, mod := range m.Extensions {
		exts = append(exts, knownFactories[mod.path()].(extension.Factory))
	}
	for _, mod := range m.Providers {
		provs = append(provs, knownFactories[mod.path()].(confmap.ProviderFactory))
	}
	f.Receivers, err = otelcol.MakeFactoryMap(recvs...)
	require.NoError(t, err)
	f.Processors, err = otelcol.MakeFactoryMap(procs...)
	require.NoError(t, err)
	f.Connectors, err = otelcol.MakeFactoryMap(conns...)
	require.NoError(t, err)
	f.Exporters, err = otelcol.MakeFactoryMap(exps...)
	require.NoError(t, err)
	f.Extensions, err = otelcol.MakeFactoryMap(exts...)
	require.NoError(t, err)
	f.Telemetry = otelconftelemetry.NewFactory() // the builder's default
	return f, provs
}

// The README's manifest names the components of this module and the
// versions of go.mod, and its configuration is valid for them.
func TestReadmeManifestAndConfig(t *testing.T) {
	files := readmeFiles(t)
	m := readmeManifest(t, files)
	f, provs := factories(t, m, nil, nil)
	require.Contains(t, f.Processors, component.MustNewType("faultline"))
	require.Contains(t, f.Connectors, component.MustNewType("faultline"))

	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "otelcol-config.yaml", files["otelcol-config.yaml"])
	rulesPath := writeFile(t, dir, "otelcol.rules.yaml", files["otelcol.rules.yaml"])
	set := settings(f, provs, "file:"+cfgPath,
		"yaml:processors::faultline::rules: ["+rulesPath+"]",
		"yaml:connectors::faultline::rules: ["+rulesPath+"]")
	col, err := otelcol.NewCollector(set)
	require.NoError(t, err)
	require.NoError(t, col.DryRun(t.Context()), "the configuration validates with these components")

	// A broken rule file fails validation with its position.
	bad := writeFile(t, dir, "bad.rules.yaml", bytes.NewBufferString("groups: [{name: g, rules: [{alert: X, expr: 'value >'}]}]\n").String())
	set = settings(f, provs, "file:"+cfgPath,
		"yaml:processors::faultline::rules: ["+bad+"]",
		"yaml:connectors::faultline::rules: ["+rulesPath+"]")
	col, err = otelcol.NewCollector(set)
	require.NoError(t, err)
	err = col.DryRun(t.Context())
	require.ErrorContains(t, err, bad+":1:")
}
