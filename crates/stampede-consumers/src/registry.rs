//! The registration macro behind the `register!` list in `lib.rs`.
//!
//! `register! { a, b }` declares the modules `a` and `b` (files `a.rs`,
//! `b.rs`) and a function `all(&Infra) -> Vec<ConsumerSpec>` that calls
//! `a::spec`, `b::spec`, … in that order. So adding a consumer is its file
//! plus its name in the list: the module and the registration are one line.

use stampede_infra::kafka::consumer::ConsumerSpec;

/// What a consumer's `spec` may return: a spec, or an optional one (a
/// consumer that only runs when configured).
pub trait Registration {
    fn into_specs(self) -> Vec<ConsumerSpec>;
}

impl Registration for ConsumerSpec {
    fn into_specs(self) -> Vec<ConsumerSpec> {
        vec![self]
    }
}

impl Registration for Option<ConsumerSpec> {
    fn into_specs(self) -> Vec<ConsumerSpec> {
        self.into_iter().collect()
    }
}

macro_rules! register {
    ($($consumer:ident),* $(,)?) => {
        $(pub mod $consumer;)*

        /// Every consumer `serve` starts, in registration order.
        pub fn all(infra: &stampede_infra::Infra) -> Vec<stampede_infra::kafka::consumer::ConsumerSpec> {
            let mut specs = Vec::new();
            $(specs.extend($crate::Registration::into_specs($consumer::spec(infra)));)*
            specs
        }
    };
}
