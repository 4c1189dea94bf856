#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nazer_shared::runtime::serve_alone(nazer_deadline_timer::SERVICE).await?;
    Ok(())
}
