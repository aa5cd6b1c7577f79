#include "client/inflight_window.h"

#include <gtest/gtest.h>

namespace moat::client {
namespace {

using mqtt::PacketType;
using mqtt::ReasonCode;
using Outcome = InflightWindow::AckOutcome;

TEST(InflightWindow, QuotaIsTheServersReceiveMaximum) {
  InflightWindow w(2);
  EXPECT_TRUE(w.hasQuota());
  w.add(1, 1);
  w.add(2, 2);
  EXPECT_FALSE(w.hasQuota());
  EXPECT_EQ(w.onAck(PacketType::Puback, 1, ReasonCode::Success), Outcome::Completed);
  EXPECT_TRUE(w.hasQuota());
}

TEST(InflightWindow, Qos1CompletesOnPuback) {
  InflightWindow w;
  w.add(5, 1);
  EXPECT_EQ(w.state(5), InflightWindow::State::AwaitPuback);
  EXPECT_EQ(w.onAck(PacketType::Puback, 5, ReasonCode::NoMatchingSubscribers), Outcome::Completed);
  EXPECT_FALSE(w.contains(5));
}

TEST(InflightWindow, Qos2GoesThroughPubrecThenPubcomp) {
  InflightWindow w(1);
  w.add(9, 2);
  EXPECT_EQ(w.onAck(PacketType::Pubcomp, 9, ReasonCode::Success), Outcome::Unexpected);
  EXPECT_EQ(w.onAck(PacketType::Pubrec, 9, ReasonCode::Success), Outcome::SendPubrel);
  EXPECT_EQ(w.state(9), InflightWindow::State::AwaitPubcomp);
  EXPECT_FALSE(w.hasQuota());  // the slot is held until PUBCOMP
  EXPECT_EQ(w.onAck(PacketType::Pubrec, 9, ReasonCode::Success), Outcome::Unexpected);
  EXPECT_EQ(w.onAck(PacketType::Pubcomp, 9, ReasonCode::Success), Outcome::Completed);
  EXPECT_TRUE(w.hasQuota());
}

TEST(InflightWindow, PubrecWithAnErrorEndsTheExchangeAndFreesTheSlot) {
  InflightWindow w(1);
  w.add(3, 2);
  EXPECT_EQ(w.onAck(PacketType::Pubrec, 3, ReasonCode::NotAuthorized), Outcome::Completed);
  EXPECT_TRUE(w.hasQuota());
}

TEST(InflightWindow, AckOfTheWrongKindOrIdChangesNothing) {
  InflightWindow w;
  w.add(1, 1);
  EXPECT_EQ(w.onAck(PacketType::Pubrec, 1, ReasonCode::Success), Outcome::Unexpected);
  EXPECT_EQ(w.onAck(PacketType::Puback, 2, ReasonCode::Success), Outcome::Unexpected);
  EXPECT_EQ(w.onAck(PacketType::Suback, 1, ReasonCode::Success), Outcome::Unexpected);
  EXPECT_EQ(w.size(), 1u);
}

TEST(InflightWindow, LoweringTheQuotaDelaysNewSendsOnly) {
  InflightWindow w(3);
  w.add(1, 1);
  w.add(2, 1);
  w.setQuota(1);
  EXPECT_FALSE(w.hasQuota());
  w.onAck(PacketType::Puback, 1, ReasonCode::Success);
  EXPECT_FALSE(w.hasQuota());
  w.onAck(PacketType::Puback, 2, ReasonCode::Success);
  EXPECT_TRUE(w.hasQuota());
}

}  // namespace
}  // namespace moat::client
