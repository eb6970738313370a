// Redis Cluster's key slot: CRC16 (XMODEM: polynomial 0x1021, initial value 0) of the key, or of
// its hash tag — the bytes between the first '{' and the first '}' after it, when there are any —
// modulo 16384. Keys sharing a hash tag share a slot, so multi-key commands can span them.
#pragma once

#include <cstdint>
#include <string_view>

namespace rcp::resp {

constexpr uint16_t kClusterSlots = 16384;

uint16_t crc16(std::string_view bytes) noexcept;
// The part of key that is hashed: its hash tag, or the whole key.
std::string_view hashTag(std::string_view key) noexcept;
uint16_t keySlot(std::string_view key) noexcept;

}  // namespace rcp::resp
