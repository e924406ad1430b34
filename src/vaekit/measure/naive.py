"""The textbook PyTorch VAE loop, kept verbatim as the baseline that `vaekit bench` measures against.

This is the loop of the PyTorch examples and most lectures: a Dataset that returns one image tensor per
``__getitem__``, ``DataLoader(batch_size=128, shuffle=True)``, separate mu / logvar heads, sigmoid followed
by ``binary_cross_entropy`` summed over the batch, and ``torch.optim.Adam``. Do not optimise it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..config import GaussianConfig
from ..models import GaussianVAE


class ImageTensorDataset(Dataset):
    """One flattened float image per item."""

    def __init__(self, x: torch.Tensor):
        self.x = x  # (N, P) float in [0, 1]

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


class TextbookVAE(nn.Module):
    def __init__(self, pixels: int = 784, hidden: int = 400, latent: int = 20):
        super().__init__()
        self.fc1 = nn.Linear(pixels, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, pixels)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def textbook_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def textbook_step(
    model: TextbookVAE, data: torch.Tensor, optimizer: torch.optim.Optimizer, device: torch.device | str = "cpu"
) -> float:
    """One step of the textbook loop on a batch; returns the batch's summed loss."""
    data = data.to(device)
    optimizer.zero_grad()
    recon_batch, mu, logvar = model(data)
    loss = textbook_loss(recon_batch, data, mu, logvar)
    loss.backward()
    train_loss = loss.item()
    optimizer.step()
    return train_loss


def textbook_epoch(
    model: TextbookVAE, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device | str = "cpu"
) -> float:
    """One epoch of the textbook loop (each batch moved to ``device``); returns the mean training loss per image."""
    model.train()
    train_loss = 0.0
    for data in loader:
        train_loss += textbook_step(model, data, optimizer, device)
    return train_loss / len(loader.dataset)  # type: ignore[arg-type]  # a map-style Dataset has a length


def make_textbook(x_train: torch.Tensor, seed: int = 0, batch_size: int = 128, lr: float = 1e-3):
    """Model, loader and optimizer of the textbook loop over ``x_train`` (N, 784)."""
    torch.manual_seed(seed)
    model = TextbookVAE(x_train.shape[1])
    loader = DataLoader(ImageTensorDataset(x_train), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return model, loader, optimizer


def to_gaussian_vae(model: TextbookVAE, input_shape=(28, 28)) -> GaussianVAE:
    """The same weights as a GaussianVAE, so both loops are evaluated by one evaluator."""
    cfg = GaussianConfig(
        input_shape=tuple(input_shape), hidden=(model.fc1.out_features,), latent_dim=model.fc21.out_features
    )
    vae = GaussianVAE(cfg)
    enc0, enc2, dec0, dec2 = vae.encoder[0], vae.encoder[2], vae.decoder[0], vae.decoder[2]  # type: ignore[index]
    assert isinstance(enc2, nn.Linear)  # the MLP preset: Linear-ReLU-Linear
    with torch.no_grad():
        enc0.load_state_dict(model.fc1.state_dict())
        enc2.weight.copy_(torch.cat([model.fc21.weight, model.fc22.weight]))
        enc2.bias.copy_(torch.cat([model.fc21.bias, model.fc22.bias]))
        dec0.load_state_dict(model.fc3.state_dict())
        dec2.load_state_dict(model.fc4.state_dict())
    return vae.eval()
