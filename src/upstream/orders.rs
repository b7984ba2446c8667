//! A user's order history (call 4). Private.

use super::{OrderId, OrdersPage, Service, UpstreamError, Upstreams, UserId, http::Call};

/// The most orders call 4 answers at once.
pub const MAX_ORDERS_PAGE: u32 = 50;

impl Upstreams {
    /// Call 4: up to `limit` (1-50) of the user's orders, newest first, older than
    /// `before` when given.
    pub async fn orders(&self, user: UserId, limit: u32, before: Option<OrderId>) -> Result<OrdersPage, UpstreamError> {
        let mut query = vec![
            ("userId", user.0.to_string()),
            ("limit", limit.clamp(1, MAX_ORDERS_PAGE).to_string()),
        ];
        if let Some(before) = before {
            query.push(("before", before.0.to_string()));
        }
        let page: Option<OrdersPage> = self
            .get(Call {
                service: Service::Orders,
                route: "GET /orders",
                path: &["orders"],
                query: &query,
                user: Some(user),
                batch: 1,
            })
            .await?;
        Ok(page.unwrap_or(OrdersPage {
            orders: Vec::new(),
            total: 0,
        }))
    }
}
