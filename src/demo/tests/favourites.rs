//! Calls 20-21 over HTTP: favourites added and removed, shown by call 3.

use super::{Answer, demo, get, get_as, send};
use crate::demo::{Demo, MAX_FAVOURITES, data};

async fn favourites(demo: &Demo) -> Vec<u64> {
    let answer = get_as(demo, "/users/users/42/favorites", "42").await;
    serde_json::from_value(answer.json()["restaurantIds"].clone()).expect("ids")
}

async fn put(demo: &Demo, restaurant: u64) -> Answer {
    let uri = format!("/users/users/42/favorites/{restaurant}");
    send(demo, "PUT", &uri, Some("42"), None).await
}

async fn delete(demo: &Demo, restaurant: u64) -> Answer {
    let uri = format!("/users/users/42/favorites/{restaurant}");
    send(demo, "DELETE", &uri, Some("42"), None).await
}

#[tokio::test]
async fn a_new_favourite_goes_first_and_an_old_one_stays_where_it_is() {
    let demo = demo();
    let generated = data::favorites(42, 42).expect("a user").restaurant_ids;
    assert_eq!(favourites(&demo).await, generated);
    let fresh = (1..).find(|r| !generated.contains(r)).expect("a restaurant");
    let added = put(&demo, fresh).await;
    assert_eq!(added.status, 204);
    assert!(added.body.is_empty());
    assert_eq!(added.cache_control(), "private, no-store");
    let mut expected = vec![fresh];
    expected.extend(&generated);
    assert_eq!(favourites(&demo).await, expected);
    assert_eq!(put(&demo, generated[1]).await.status, 204);
    assert_eq!(favourites(&demo).await, expected, "already there: unchanged");
    assert_eq!(put(&demo, fresh).await.status, 204);
    assert_eq!(favourites(&demo).await, expected);
}

#[tokio::test]
async fn removing_answers_204_whether_or_not_it_was_a_favourite() {
    let demo = demo();
    let generated = data::favorites(42, 42).expect("a user").restaurant_ids;
    let removed = delete(&demo, generated[0]).await;
    assert_eq!(removed.status, 204);
    assert_eq!(removed.cache_control(), "private, no-store");
    assert_eq!(favourites(&demo).await, generated[1..]);
    assert_eq!(delete(&demo, generated[0]).await.status, 204);
    assert_eq!(delete(&demo, 4_999_999).await.status, 204);
    assert_eq!(favourites(&demo).await, generated[1..]);
}

#[tokio::test]
async fn unknown_restaurants_other_users_and_bad_ids() {
    let demo = demo();
    assert_eq!(put(&demo, 5_001).await.status, 404);
    assert_eq!(put(&demo, 0).await.status, 404);
    for method in ["PUT", "DELETE"] {
        let uri = "/users/users/42/favorites/7";
        assert_eq!(send(&demo, method, uri, Some("43"), None).await.status, 403, "{method}");
        assert_eq!(send(&demo, method, uri, None, None).await.status, 403, "{method}");
        let bad = "/users/users/42/favorites/x";
        assert_eq!(send(&demo, method, bad, Some("42"), None).await.status, 400, "{method}");
        let unknown_user = "/users/users/100001/favorites/7";
        assert_eq!(
            send(&demo, method, unknown_user, Some("100001"), None).await.status,
            404
        );
    }
    // The other user's list is untouched by 42's changes.
    put(&demo, 9).await;
    let theirs = get_as(&demo, "/users/users/43/favorites", "43").await.json();
    assert_eq!(theirs, serde_json::to_value(data::favorites(42, 43)).expect("json"));
}

#[tokio::test]
async fn past_200_favourites_is_409() {
    let demo = demo();
    let generated = data::favorites(42, 42).expect("a user").restaurant_ids;
    let room = MAX_FAVOURITES - generated.len();
    let fresh: Vec<u64> = (1..).filter(|r| !generated.contains(r)).take(room + 1).collect();
    for &restaurant in &fresh[..room] {
        assert_eq!(put(&demo, restaurant).await.status, 204);
    }
    let refused = put(&demo, fresh[room]).await;
    assert_eq!(refused.status, 409);
    assert!(refused.json()["error"].is_string());
    assert_eq!(favourites(&demo).await.len(), MAX_FAVOURITES);
    assert_eq!(put(&demo, generated[0]).await.status, 204, "one already there");
    assert_eq!(delete(&demo, generated[0]).await.status, 204);
    assert_eq!(put(&demo, 4_000).await.status, 204, "room again");
}

#[tokio::test]
async fn reset_restores_the_generated_favourites_and_stats_name_the_routes() {
    let demo = demo();
    let generated = data::favorites(42, 42).expect("a user").restaurant_ids;
    put(&demo, 4_321).await;
    delete(&demo, generated[0]).await;
    let stats = get(&demo, "/_admin/stats").await.json();
    assert_eq!(stats["calls"]["users PUT /users/{id}/favorites/{restaurantId}"], 1);
    assert_eq!(stats["calls"]["users DELETE /users/{id}/favorites/{restaurantId}"], 1);
    assert_eq!(stats["ids"]["users PUT /users/{id}/favorites/{restaurantId}"], 1);
    send(&demo, "POST", "/_admin/reset", None, None).await;
    assert_eq!(favourites(&demo).await, generated);
}
