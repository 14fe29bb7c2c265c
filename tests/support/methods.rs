//! The one list of optimizers that the cross-cutting tests run (atomicity, no allocation,
//! checkpoints, hostile inputs, the candle adapter): every [`signfree::Method`] of the crate, in
//! the configurations worth covering (each option that changes the state layout or a code path).
//! A new optimizer is one line here, and every test that uses the list then covers it.
//!
//! `every_method!(F, layout, visit, args...)` calls `visit(optimizer, args...)` once per entry,
//! with the optimizer built for element type `F` and the given layout. `visit` is a generic
//! function, typically `fn visit<O: Checkpointable<Element = F> + Clone + 'static>(o: O, ...)`.

#[allow(unused_macros)]
macro_rules! every_method {
    ($F:ty, $layout:expr, $visit:ident $(, $arg:expr)*) => {{
        #[allow(unused_imports)]
        use signfree::research::{
            DistanceSign, DistanceSignConfig, GradientScaledStart, GradientScaledStartConfig,
        };
        #[allow(unused_imports)]
        use signfree::{
            AdamLikeCompat, AdamLikeCompatConfig, AdamW, AdamWConfig, AliasAdam, AliasAdamConfig,
            AliasSignSgdConfig, AliasRule, AliasSignSgd, Method, Prodigy, ProdigyConfig, Schedule,
            SignSgd, SignSgdConfig, Warmup,
        };
        let l: &[usize] = $layout;
        fn build<O: Method>(config: O::Config, layout: &[usize]) -> O {
            O::build(config, layout).unwrap_or_else(|e| panic!("{}: {e}", O::NAME))
        }
        $visit(build::<SignSgd<$F>>(SignSgdConfig { lr: 0.1, ..Default::default() }, l) $(, $arg)*);
        $visit(build::<SignSgd<$F>>(SignSgdConfig { lr: 0.1, momentum: Some(0.9), weight_decay: 0.1, ..Default::default() }, l) $(, $arg)*);
        $visit(build::<AliasSignSgd<$F>>(AliasSignSgdConfig::default(), l) $(, $arg)*);
        $visit(build::<AliasSignSgd<$F>>(AliasSignSgdConfig::option_f(0.0), l) $(, $arg)*);
        $visit(build::<AliasSignSgd<$F>>(AliasSignSgdConfig { momentum: Some(0.9), weight_decay: 0.01, ..Default::default() }, l) $(, $arg)*);
        $visit(build::<AliasSignSgd<$F>>(AliasSignSgdConfig {
            rule: AliasRule {
                initial_smoothness: Some(2.0),
                warmup: Some(Warmup { steps: 2, lr: 0.01, schedule: Schedule::Constant }),
                horizon: Some(30),
                ..Default::default()
            },
            ..Default::default()
        }, l) $(, $arg)*);
        $visit(build::<AliasSignSgd<$F>>(AliasSignSgdConfig { rule: AliasRule { update_gap: 3, ..Default::default() }, ..Default::default() }, l) $(, $arg)*);
        $visit(build::<AliasSignSgd<$F>>(AliasSignSgdConfig { memory: signfree::AliasMemory::SignOnly, ..Default::default() }, l) $(, $arg)*);
        $visit(build::<AliasAdam<$F>>(AliasAdamConfig::default(), l) $(, $arg)*);
        $visit(build::<AdamW<$F>>(AdamWConfig::default(), l) $(, $arg)*);
        $visit(build::<Prodigy<$F>>(ProdigyConfig::default(), l) $(, $arg)*);
        $visit(build::<AdamLikeCompat<$F>>(AdamLikeCompatConfig { lr: 0.01, weight_decay: 0.1, warmup_steps: 2, ..Default::default() }, l) $(, $arg)*);
        $visit(build::<DistanceSign<$F>>(DistanceSignConfig::default(), l) $(, $arg)*);
        $visit(build::<DistanceSign<$F>>(DistanceSignConfig { per_tensor: true, ..Default::default() }, l) $(, $arg)*);
        $visit(build::<GradientScaledStart<$F>>(GradientScaledStartConfig {
            alias: AliasSignSgdConfig { rule: AliasRule { horizon: Some(30), ..Default::default() }, ..Default::default() },
            polyak_bound: true,
        }, l) $(, $arg)*);
    }};
}
