"""Every short question of the course graded by meaning: equivalent spellings pass
(flag order, -n or --namespace=, deploy/x or deployment x, optional flags not asked for),
and a wrong answer fails — each row is something a learner could type."""

from __future__ import annotations

import pytest

from labhelpers import quiz as q

QUESTIONS = {x.id: x for s in q.SECTIONS for x in q.load(s).questions}

RIGHT = {
    "backend-logs": [
        "kubectl logs -n ecommerce-lab deploy/ecommerce-backend --tail=20",
        "kubectl logs deployment/ecommerce-backend -n ecommerce-lab",      # no --tail
        "kubectl logs -l app=ecommerce-backend -n ecommerce-lab --tail=20",
        "kubectl logs --selector=app=ecommerce-backend",
        "kubectl logs deployment ecommerce-backend --tail 20",
        "kubectl -n ecommerce-lab logs deploy/ecommerce-backend -c backend",
    ],
    "warnings": [
        "kubectl get events -n ecommerce-lab --field-selector type=Warning",
        "kubectl get ev --field-selector=type=Warning --sort-by=.lastTimestamp -n ecommerce-lab",
        "kubectl -n ecommerce-lab events --types=Warning",
        "kubectl get events --field-selector type!=Normal",
    ],
    "confirm-configmap": [
        "kubectl describe deployment ecommerce-backend -n ecommerce-lab | grep DATABASE_HOST",
        "kubectl describe deploy/ecommerce-backend",
        "kubectl exec -n ecommerce-lab deploy/ecommerce-backend -- printenv DATABASE_HOST",
        "kubectl get deployment ecommerce-backend -o yaml",
        "kubectl exec deployment/ecommerce-backend -- env | grep -i database_host",
    ],
    "scale-command": [
        "kubectl scale deployment/ecommerce-backend --replicas=3 -n ecommerce-lab",
        "kubectl scale --replicas 3 deploy ecommerce-backend",
        "kubectl -n ecommerce-lab scale deployments/ecommerce-backend --replicas=3",
        "kubectl scale deployment ecommerce-backend --replicas=3 --namespace ecommerce-lab",
    ],
    "endpoints-command": [
        "kubectl get endpoints ecommerce-backend -n ecommerce-lab",
        "kubectl get ep",
        "kubectl get endpointslices -l kubernetes.io/service-name=ecommerce-backend",
        "kubectl describe svc ecommerce-backend",
    ],
    "fqdn": ["postgres.ecommerce-lab.svc.cluster.local", "postgres.ecommerce-lab.svc.cluster.local."],
    "cart-url": ["http://cart-service:8080", "cart-service:8080"],
    "pod-count": ["7", "seven", "7 pods"],
    "total-pods-after": ["8", "eight"],
    "health-endpoint": ["/api/health", "http://localhost:5000/api/health"],
    "pvc-name": ["data-postgres-0", "pvc/data-postgres-0"],
    "storage-size": ["1Gi", "1 GiB"],
    "cache-header": ["X-Cache", "x-cache"],
    "metrics-server": ["metrics-server", "metrics server"],
}

WRONG = {
    "backend-logs": [
        "kubectl logs deploy/ecommerce-frontend --tail=20",   # another tier
        "kubectl logs -l app=redis",
        "kubectl logs deploy/ecommerce-backend --tail=5",     # not the last 20
        "kubectl logs deploy/ecommerce-backend -n default",   # another namespace
        "kubectl get pods",
    ],
    "warnings": ["kubectl get events -n ecommerce-lab",
                 "kubectl get events --field-selector type=Normal"],
    "confirm-configmap": [
        "kubectl exec deploy/ecommerce-backend -- env",       # dumps the password too
        "kubectl describe deploy/redis",
        "kubectl get configmap ecommerce-config -o yaml",     # the ConfigMap, not its use
    ],
    "scale-command": ["kubectl scale deployment/ecommerce-backend --replicas=2",
                      "kubectl scale statefulset/postgres --replicas=3",
                      "kubectl scale deployment/ecommerce-backend"],
    "endpoints-command": ["kubectl get svc ecommerce-backend", "kubectl get pods -o wide"],
    "fqdn": ["postgres.ecommerce-app.svc.cluster.local", "postgres"],
    "cart-url": ["http://cart-service:3001"],
    "pod-count": ["5"],
    "total-pods-after": ["7"],
    "health-endpoint": ["/health"],
    "pvc-name": ["data-postgres"],
    "storage-size": ["20Gi"],
    "cache-header": ["Cache-Control"],
    "metrics-server": ["prometheus"],
}


def test_every_short_question_is_covered() -> None:
    shorts = {qid for qid, x in QUESTIONS.items() if x.type == "short"}
    assert shorts == set(RIGHT) == set(WRONG)


@pytest.mark.parametrize(("qid", "answer"),
                         [(k, a) for k, answers in RIGHT.items() for a in answers])
def test_equivalent_answers_pass(qid: str, answer: str) -> None:
    assert q.grade_question(QUESTIONS[qid], answer), f"{qid}: {answer!r} graded wrong"


@pytest.mark.parametrize(("qid", "answer"),
                         [(k, a) for k, answers in WRONG.items() for a in answers])
def test_wrong_answers_fail(qid: str, answer: str) -> None:
    assert not q.grade_question(QUESTIONS[qid], answer), f"{qid}: {answer!r} graded right"
