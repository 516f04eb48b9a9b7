#!/usr/bin/env python3
"""Reference values for the DINO method and evaluation tests (DinoSSLTests, DinoEvalTests).

Writes small JSON fixtures (the Swift tests read them without Python):

  Tests/DinoSSLTests/Fixtures/dino_loss.json   DINO's loss, its gradient with respect to the
                                               student outputs, and the centre EMA update
  Tests/DinoEvalTests/Fixtures/knn.json        DINO's weighted k-NN classifier: top-1/top-5 for
                                               several k on random features with planted classes

The formulas restate, in PyTorch and in float64, what facebookresearch/dino computes in
main_dino.py (class DINOLoss: forward and update_center, one process) and eval_knn.py
(knn_classifier). They are written out here from the description, as a loop over (teacher
view, student view) pairs exactly as the reference loops, so that the Swift code, which
computes the same sum differently, is checked against the reference's own order of operations:

  loss   = (1 / #pairs) Σ_{iq < 2} Σ_{v ≠ iq} mean_b( −Σ_k q_iq[b,k] · log_softmax(s_v[b] / τ_s)[k] )
  q_iq   = softmax((t_iq − c) / τ_t)           (no gradient)
  c'     = m · c + (1 − m) · mean_rows(t)       (t: the raw teacher outputs of both global views)

  knn:   cosine similarities of L2-normalised features, the k largest (sorted), weights
         exp(sim / T), one-hot votes summed per class, classes ranked by votes; top-1 and
         top-5 (top-min(5, k)) hits in percent. Classes with equal votes rank by index (a
         stable sort; the reference leaves the order of ties to torch.sort).

Usage: python3 scripts/make_dino_fixtures.py   (needs torch)
"""

import json
import os

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT))


# ---------------------------------------------------------------------------------------------
# DINO loss

def reference_dino_loss(student, teacher, center, student_temp, teacher_temp, views, globals_=2):
    """The reference's loop over pairs; `student` is (views·B, K), `teacher` (2·B, K)."""
    s = (student / student_temp).chunk(views)
    q = F.softmax((teacher - center) / teacher_temp, dim=-1).detach().chunk(globals_)
    total, terms = 0.0, 0
    for iq, qi in enumerate(q):
        for v in range(views):
            if v == iq:
                continue
            total = total + torch.sum(-qi * F.log_softmax(s[v], dim=-1), dim=-1).mean()
            terms += 1
    return total / terms


def reference_center(center, teacher, momentum):
    batch_center = torch.sum(teacher, dim=0, keepdim=True) / len(teacher)
    return center * momentum + batch_center * (1 - momentum)


def dino_loss_cases():
    g = torch.Generator().manual_seed(2021)
    cases = []
    specs = [
        # name, batch, views (2 global + locals), prototypes, τ_s, τ_t, logit scale, centre momentum
        ("multicrop", 3, 4, 16, 0.1, 0.04, 1.0, 0.9),
        ("globals_only", 2, 2, 8, 0.1, 0.07, 1.0, 0.9),
        ("wide_logits", 4, 5, 12, 0.1, 0.05, 6.0, 0.8),
        ("one_image", 1, 8, 10, 0.2, 0.04, 2.0, 0.9),
    ]
    for name, b, views, k, ts, tt, scale, m in specs:
        student = (torch.randn(views * b, k, generator=g, dtype=torch.float64) * scale).requires_grad_()
        teacher = torch.randn(2 * b, k, generator=g, dtype=torch.float64) * scale
        center = torch.randn(1, k, generator=g, dtype=torch.float64) * 0.3 * scale
        loss = reference_dino_loss(student, teacher, center, ts, tt, views)
        loss.backward()
        cases.append({
            "name": name, "batch": b, "views": views, "prototypes": k,
            "student_temp": ts, "teacher_temp": tt, "center_momentum": m,
            "student": flat(student), "teacher": flat(teacher), "center": flat(center),
            "loss": float(loss.detach()), "student_grad": flat(student.grad),
            "new_center": flat(reference_center(center, teacher, m)),
        })
    return {"cases": cases}


# ---------------------------------------------------------------------------------------------
# Weighted k-NN

def reference_knn(train_f, train_y, test_f, test_y, k, T, num_classes):
    train_f = F.normalize(train_f, dim=1, p=2)
    test_f = F.normalize(test_f, dim=1, p=2)
    sim = test_f @ train_f.t()
    dist, idx = sim.topk(k, largest=True, sorted=True)
    neighbours = train_y.view(1, -1).expand(len(test_y), -1).gather(1, idx)
    one_hot = torch.zeros(len(test_y) * k, num_classes, dtype=train_f.dtype)
    one_hot.scatter_(1, neighbours.reshape(-1, 1), 1)
    weights = (dist / T).exp()
    votes = (one_hot.view(len(test_y), k, num_classes) * weights.view(len(test_y), k, 1)).sum(1)
    _, ranked = votes.sort(dim=1, descending=True, stable=True)
    correct = ranked.eq(test_y.view(-1, 1))
    top1 = correct[:, :1].sum().item() * 100.0 / len(test_y)
    top5 = correct[:, :min(5, k)].sum().item() * 100.0 / len(test_y)
    return top1, top5, votes


def knn_cases():
    g = torch.Generator().manual_seed(7)
    cases = []
    # Classes as noisy clusters around random centres; noise high enough that k matters.
    for name, classes, dim, n_train, n_test, noise, T in [
        ("clusters", 6, 8, 90, 37, 1.3, 0.07),
        ("many_classes", 12, 16, 160, 53, 1.6, 0.1),
    ]:
        centres = torch.randn(classes, dim, generator=g, dtype=torch.float64)
        train_y = torch.randint(0, classes, (n_train,), generator=g)
        test_y = torch.randint(0, classes, (n_test,), generator=g)
        train_f = centres[train_y] + noise * torch.randn(n_train, dim, generator=g, dtype=torch.float64)
        test_f = centres[test_y] + noise * torch.randn(n_test, dim, generator=g, dtype=torch.float64)
        results = []
        for k in [1, 3, 10, 20]:
            top1, top5, votes = reference_knn(train_f, train_y, test_f, test_y, k, T, classes)
            results.append({"k": k, "top1": top1, "top5": top5, "votes": flat(votes)})
        cases.append({
            "name": name, "classes": classes, "dim": dim, "temperature": T,
            "train_features": flat(train_f), "train_labels": train_y.tolist(),
            "test_features": flat(test_f), "test_labels": test_y.tolist(),
            "results": results,
        })
    return {"cases": cases}


if __name__ == "__main__":
    write(os.path.join(ROOT, "Tests", "DinoSSLTests", "Fixtures", "dino_loss.json"), dino_loss_cases())
    write(os.path.join(ROOT, "Tests", "DinoEvalTests", "Fixtures", "knn.json"), knn_cases())
