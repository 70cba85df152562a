//! `authdomain drift`: where AWS differs from one or several manifests, as a table, JSON
//! or Markdown; exit 0 in sync, 2 drift, 1 error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::plan::Plan;
use authdomain_core::{drift, spec};
use clap::ValueEnum;
use provisioner::reconcile;

use super::AwsArgs;
use super::input::{connect, load};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file", required = true)]
    file: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Markdown,
}

pub async fn run(aws_args: &AwsArgs, args: Args) -> anyhow::Result<ExitCode> {
    let manifests = args
        .file
        .iter()
        .map(load)
        .collect::<anyhow::Result<Vec<_>>>()?;
    // One connection per region; plans come back in the order of the files.
    let mut by_region: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, m) in manifests.iter().enumerate() {
        let region = aws_args
            .region
            .clone()
            .unwrap_or_else(|| m.spec.region.clone());
        by_region.entry(region).or_default().push(i);
    }
    let mut plans: Vec<Option<Plan>> = vec![None; manifests.len()];
    for indices in by_region.values() {
        let group: Vec<spec::AuthDomainManifest> =
            indices.iter().map(|&i| manifests[i].clone()).collect();
        let aws = connect(aws_args, &group[0]).await;
        for (&i, plan) in indices
            .iter()
            .zip(reconcile::plan_many(&aws, &group).await?)
        {
            plans[i] = Some(plan);
        }
    }
    let plans: Vec<Plan> = plans.into_iter().flatten().collect();
    match args.format {
        Format::Json => {
            let reports: Vec<serde_json::Value> = manifests
                .iter()
                .zip(&plans)
                .map(|(m, p)| drift::json(&m.metadata.name, p))
                .collect();
            let value = if reports.len() == 1 {
                reports.into_iter().next().unwrap_or_default()
            } else {
                serde_json::Value::from(reports)
            };
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Table => {
            for (m, p) in manifests.iter().zip(&plans) {
                print!("{}", drift::table(&m.metadata.name, p));
            }
        }
        Format::Markdown => {
            for (m, p) in manifests.iter().zip(&plans) {
                print!("{}", drift::markdown(&m.metadata.name, p));
            }
        }
    }
    Ok(if plans.iter().all(Plan::is_empty) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
