using System.Security.Cryptography;
using System.Text;

namespace Coordinator.Contracts.Sessions;

/// <summary>Owner tokens are secrets: grains store and key by their hash only.</summary>
public static class OwnerTokens
{
    /// <summary>Lower-case hex SHA-256 of the token's UTF-8 bytes.</summary>
    public static string Hash(string ownerToken) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ownerToken)));
}
