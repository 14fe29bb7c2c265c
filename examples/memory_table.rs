//! Optimizer state per parameter, as each optimizer reports it (`state_bytes_per_parameter`),
//! for `f32` parameters. Prints a Markdown table.
//!
//! Run: `cargo run --example memory_table`

use signfree::{
    AdamW, AdamWConfig, AliasAdam, AliasAdamConfig, AliasSignSgd, AliasSignSgdConfig, Optimizer,
    Prodigy, ProdigyConfig, SignSgd, SignSgdConfig,
};

fn main() -> signfree::Result<()> {
    let layout = [1000];
    let rows: Vec<(&str, Box<dyn Optimizer<f32>>)> = vec![
        (
            "Sign-SGD",
            Box::new(SignSgd::new(SignSgdConfig::default(), &layout)?),
        ),
        (
            "Signum (momentum)",
            Box::new(SignSgd::new(
                SignSgdConfig {
                    momentum: Some(0.9),
                    ..Default::default()
                },
                &layout,
            )?),
        ),
        (
            "ALIAS Sign-SGD",
            Box::new(AliasSignSgd::new(AliasSignSgdConfig::default(), &layout)?),
        ),
        (
            "ALIAS with momentum",
            Box::new(AliasSignSgd::new(
                AliasSignSgdConfig {
                    momentum: Some(0.9),
                    ..Default::default()
                },
                &layout,
            )?),
        ),
        (
            "ALIAS, sign-only memory",
            Box::new(AliasSignSgd::new(
                AliasSignSgdConfig {
                    memory: signfree::AliasMemory::SignOnly,
                    ..Default::default()
                },
                &layout,
            )?),
        ),
        (
            "ALIAS-Adam",
            Box::new(AliasAdam::new(AliasAdamConfig::default(), &layout)?),
        ),
        (
            "AdamW",
            Box::new(AdamW::new(AdamWConfig::default(), &layout)?),
        ),
        (
            "Prodigy",
            Box::new(Prodigy::new(ProdigyConfig::default(), &layout)?),
        ),
    ];
    println!("| optimizer | state bytes per f32 parameter |\n|---|---:|");
    for (name, opt) in rows {
        println!("| {name} | {} |", opt.state_bytes_per_parameter());
    }
    Ok(())
}
