"""spconv conventions against dense convolutions (spec §2.5, App. F.1) and U-Net row order."""
import torch
import torch.nn.functional as F

from sphmask.models import sparse_backend
from sphmask.models.backbone import PointwiseLinear, ResidualBlock, UBlock

SP = sparse_backend.get("spconv")
spconv = SP.lib
conv_algo_for, use_conv_algo_for = SP.conv_algo_for, SP.use_conv_algo_for

SHAPE = (6, 5, 7)


def _sparse_input(n_active=40, channels=3, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    coords = []
    for b in range(batch):
        cells = torch.randperm(SHAPE[0] * SHAPE[1] * SHAPE[2], generator=g)[:n_active]
        xyz = torch.stack([cells // (SHAPE[1] * SHAPE[2]), (cells // SHAPE[2]) % SHAPE[1], cells % SHAPE[2]], 1)
        coords.append(torch.cat([torch.full((n_active, 1), b), xyz], 1))
    idx = torch.cat(coords).int()
    feats = torch.randn(idx.shape[0], channels, generator=g, dtype=torch.float32)
    return spconv.SparseConvTensor(feats, idx, list(SHAPE), batch)


def _dense(x: spconv.SparseConvTensor) -> torch.Tensor:
    """(B, C, X, Y, Z) dense grid with zeros at inactive sites (kernel axes follow x, y, z)."""
    out = torch.zeros(x.batch_size, x.features.shape[1], *x.spatial_shape, dtype=x.features.dtype)
    i = x.indices.long()
    out[i[:, 0], :, i[:, 1], i[:, 2], i[:, 3]] = x.features
    return out


def _at(dense: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    i = idx.long()
    return dense[i[:, 0], :, i[:, 1], i[:, 2], i[:, 3]]


def test_submanifold_conv_equals_dense_cross_correlation_at_active_sites():
    x = _sparse_input()
    conv = spconv.SubMConv3d(3, 4, 3, padding=1, bias=False, indice_key="t")
    use_conv_algo_for(conv, torch.device("cpu"))
    y = conv(x)
    assert torch.equal(y.indices, x.indices)
    w = conv.weight.permute(0, 4, 1, 2, 3)  # [out, kx, ky, kz, in] -> [out, in, kx, ky, kz]
    ref = _at(F.conv3d(_dense(x), w, padding=1), x.indices)
    torch.testing.assert_close(y.features, ref, atol=1e-5, rtol=1e-5)


def test_stride2_conv_and_inverse_equal_dense_conv_and_transposed_conv():
    x = _sparse_input(seed=1)
    down = spconv.SparseConv3d(3, 5, kernel_size=2, stride=2, bias=False, indice_key="d")
    up = spconv.SparseInverseConv3d(5, 3, kernel_size=2, bias=False, indice_key="d")
    use_conv_algo_for(down, torch.device("cpu"))
    use_conv_algo_for(up, torch.device("cpu"))
    y = down(x)
    i = x.indices.long()
    # Output site o exists iff an input has floor(i / 2) = o; with an odd extent the last layer of
    # sites falls outside the output grid ((s - 2) // 2 + 1), exactly as with a dense conv.
    out_shape = torch.tensor([(s - 2) // 2 + 1 for s in SHAPE])
    sites = torch.cat([i[:, :1], i[:, 1:] // 2], 1)
    expected_sites = torch.unique(sites[(sites[:, 1:] < out_shape).all(1)], dim=0)
    assert torch.equal(torch.unique(y.indices.long(), dim=0), expected_sites)
    dense_y = F.conv3d(_dense(x), down.weight.permute(0, 4, 1, 2, 3), stride=2)
    torch.testing.assert_close(y.features, _at(dense_y, y.indices), atol=1e-5, rtol=1e-5)

    z = up(y)
    assert torch.equal(z.indices, x.indices)
    y_grid = torch.zeros(y.batch_size, 5, *out_shape.tolist())
    yi = y.indices.long()
    y_grid[yi[:, 0], :, yi[:, 1], yi[:, 2], yi[:, 3]] = y.features
    dense_z = F.conv_transpose3d(y_grid, up.weight.permute(4, 0, 1, 2, 3), stride=2)  # -> [in, out, k...]
    dense_z = F.pad(dense_z, [0, SHAPE[2] - dense_z.shape[4], 0, SHAPE[1] - dense_z.shape[3],
                              0, SHAPE[0] - dense_z.shape[2]])
    torch.testing.assert_close(z.features, _at(dense_z, x.indices), atol=1e-5, rtol=1e-5)


def test_pointwise_linear_is_a_matrix_product_on_features():
    x = _sparse_input()
    lin = PointwiseLinear(3, 2)
    y = lin(x)
    assert lin.weight.shape == (2, 1, 1, 1, 3)
    torch.testing.assert_close(y.features, x.features @ lin.weight.view(2, 3).t())
    assert torch.equal(y.indices, x.indices)


def test_residual_block_is_conv_branch_plus_projection_shortcut():
    x = _sparse_input()
    block = ResidualBlock(3, 4, "r", SP).eval()
    use_conv_algo_for(block, torch.device("cpu"))
    out = block(x)
    ref = block.conv_branch(x).features + x.features @ block.i_branch[0].weight.view(4, 3).t()
    torch.testing.assert_close(out.features, ref)


def test_ublock_keeps_input_row_order_and_width():
    x = _sparse_input(channels=4)
    net = UBlock([4, 8, 12], SP).eval()
    use_conv_algo_for(net, torch.device("cpu"))
    with torch.no_grad():
        y = net(x)
    assert torch.equal(y.indices, x.indices)
    assert y.features.shape == (x.features.shape[0], 4)


def test_conv_algorithm_follows_device():
    assert conv_algo_for(torch.device("cpu")) == spconv.ConvAlgo.Native
    assert conv_algo_for(torch.device("cuda", 0)) == spconv.ConvAlgo.MaskImplicitGemm
    net = UBlock([4, 8], SP)
    use_conv_algo_for(net, torch.device("cpu"))
    convs = [m for m in net.modules() if hasattr(m, "algo")]
    assert convs and all(m.algo == spconv.ConvAlgo.Native for m in convs)
