//! The closed set of probe kinds: one variant per kind in [`ProbeSpec`] (config) and
//! [`AnyProbe`] (validated). Adding a kind is one file plus one line in each enum's macro call.

use serde::Deserialize;
use tokio::time::Instant;

use crate::spec::BuildCx;
use crate::{Kind, Outcome, Probe, RunContext};

macro_rules! kinds {
    ($($variant:ident => $module:ident :: $spec:ident / $probe:ident,)+) => {
        /// A probe's kind-specific configuration, tagged by its `kind` key.
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum ProbeSpec {
            $(
                #[doc = concat!("`kind = \"", stringify!($module), "\"`")]
                $variant(crate::$module::$spec),
            )+
        }

        /// A validated probe, ready to run.
        #[derive(Debug)]
        pub enum AnyProbe {
            $(
                #[doc = concat!("A `", stringify!($module), "` probe.")]
                $variant(crate::$module::$probe),
            )+
        }

        impl ProbeSpec {
            /// Every kind's name, as written in `kind = "…"`.
            pub const KINDS: &'static [&'static str] = &[$(stringify!($module)),+];

            /// Deserialize the keys of a probe of `kind` (without the `kind` key itself).
            /// Unlike the tagged derive, this keeps the deserializer's key paths in errors.
            pub fn deserialize_kind<'de, D: serde::Deserializer<'de>>(
                kind: &str,
                deserializer: D,
            ) -> Result<Self, D::Error> {
                match kind {
                    $(stringify!($module) => <crate::$module::$spec as Deserialize>::deserialize(deserializer)
                        .map(ProbeSpec::$variant),)+
                    other => Err(serde::de::Error::unknown_variant(other, Self::KINDS)),
                }
            }

            /// The kind this spec configures.
            pub fn kind(&self) -> Kind {
                match self { $(ProbeSpec::$variant(_) => Kind::$variant,)+ }
            }

            /// Validate into a runnable probe; problems go to `cx`.
            pub fn build(&self, cx: &mut BuildCx<'_>) -> Option<AnyProbe> {
                match self { $(ProbeSpec::$variant(s) => s.build(cx).map(AnyProbe::$variant),)+ }
            }
        }

        impl AnyProbe {
            /// The kind, for labels.
            pub fn kind(&self) -> Kind {
                match self { $(AnyProbe::$variant(p) => p.kind(),)+ }
            }

            /// Run once and stamp the run's wall time on the outcome.
            pub async fn run(&self, cx: &RunContext) -> Outcome {
                let started = Instant::now();
                let mut outcome = match self { $(AnyProbe::$variant(p) => p.run(cx).await,)+ };
                outcome.duration = started.elapsed();
                outcome
            }
        }
    };
}

kinds! {
    Http => http::HttpSpec / HttpProbe,
    Transaction => transaction::TransactionSpec / TransactionProbe,
    Auth => auth::AuthSpec / AuthProbe,
    Latency => latency::LatencySpec / LatencyProbe,
    Burst => burst::BurstSpec / BurstProbe,
    Tcp => tcp::TcpSpec / TcpProbe,
    Redis => redis::RedisSpec / RedisProbe,
    Postgres => postgres::PostgresSpec / PostgresProbe,
    Tls => tls::TlsSpec / TlsProbe,
}
