#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nazer_shared::runtime::serve_alone(nazer_violation_referral::SERVICE).await?;
    Ok(())
}
