//! A user's wallet (call 14) and loyalty standing (call 15). Private.

use super::{Loyalty, Service, UpstreamError, Upstreams, UserId, Voucher, http::Call};

impl Upstreams {
    /// Call 14: the user's vouchers.
    pub async fn vouchers(&self, user: UserId) -> Result<Vec<Voucher>, UpstreamError> {
        let id = user.0.to_string();
        let found: Option<Vec<Voucher>> = self
            .get(Call {
                service: Service::Wallet,
                route: "GET /users/{id}/vouchers",
                path: &["users", &id, "vouchers"],
                query: &[],
                user: Some(user),
                batch: 1,
            })
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// Call 15: the user's loyalty standing; `None` if they are not a member.
    pub async fn loyalty(&self, user: UserId) -> Result<Option<Loyalty>, UpstreamError> {
        let id = user.0.to_string();
        self.get(Call {
            service: Service::Loyalty,
            route: "GET /members/{userId}",
            path: &["members", &id],
            query: &[],
            user: Some(user),
            batch: 1,
        })
        .await
    }
}
