package metrics

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// newSDKHandler returns the Temporal SDK's own metrics handler
// (go.temporal.io/sdk/contrib/opentelemetry), exported in Prometheus
// format into reg by OpenTelemetry's Prometheus exporter. The contrib
// module builds against the SDK version keyrotor uses (it needs v1.46 or
// later); the tally contrib module is not available to this project.
// Counters are monotonic, so they are exported as Prometheus counters
// (temporal_…_total); timers are histograms in seconds.
func newSDKHandler(reg prometheus.Registerer) (client.MetricsHandler, error) {
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                provider.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		// The default panics: a metric the meter refuses must not stop a rotation.
		OnError: func(err error) { slog.Warn("Temporal SDK metric refused", "error", err) },
	}), nil
}
