module github.com/faultline-go/faultline/contrib/kafka

go 1.26.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/faultline-go/faultline v0.0.0
	github.com/stretchr/testify v1.12.1
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kadm v1.20.0
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
)

require (
	github.com/VictoriaMetrics/fastcache v1.13.0 // indirect
	github.com/expr-lang/expr v1.17.8 // indirect
	github.com/golang/snappy v1.0.0 // indirect
	github.com/influxdata/line-protocol/v2 v2.2.1 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.34.0 // indirect
)

replace github.com/faultline-go/faultline => ../..
