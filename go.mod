module github.com/faultline-go/faultline

go 1.25.0

require (
	github.com/VictoriaMetrics/fastcache v1.13.0
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/expr-lang/expr v1.17.8
	github.com/influxdata/line-protocol/v2 v2.2.1
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/golang/snappy v1.0.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.34.0 // indirect
)
