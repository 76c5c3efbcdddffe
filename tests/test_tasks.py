import numpy as np
import pytest

from fmnist_core.data.tasks import FOOTWEAR_LUGGAGE, MULTICLASS, SHOES, binarize, custom_task, get_task


def test_builtin_groupings():
    assert SHOES.positive == {5, 7, 9}
    assert FOOTWEAR_LUGGAGE.positive == {5, 7, 8, 9}
    assert not MULTICLASS.is_binary and MULTICLASS.n_classes == 10
    assert SHOES.n_classes == 2 and SHOES.class_names[1] == "Shoes"


def test_binarize_labels():
    y = np.array([0, 5, 7, 8, 9, 6])
    assert binarize(y, "shoes").tolist() == [0, 1, 1, 0, 1, 0]
    assert binarize(y, "footwear_luggage").tolist() == [0, 1, 1, 1, 1, 0]


def test_binarize_probabilities_sums_each_groups_mass():
    p = np.zeros((2, 10))
    p[0, [5, 7, 0]] = [0.3, 0.3, 0.4]  # shoes mass 0.6 even though the arg-max (0) is not a shoe
    p[1, [8, 1]] = [0.5, 0.5]
    b = binarize(p, SHOES)
    np.testing.assert_allclose(b, [[0.4, 0.6], [1.0, 0.0]])
    np.testing.assert_allclose(binarize(p, FOOTWEAR_LUGGAGE), [[0.4, 0.6], [0.5, 0.5]])


def test_custom_tasks_and_errors():
    t = custom_task(["Bag", 0])
    assert t.positive == {0, 8} and t.name == "custom_08"
    assert get_task("custom_08").positive == {0, 8}
    assert get_task(t.to_dict()).positive == {0, 8}
    with pytest.raises(ValueError, match="unknown class"):
        custom_task(["Hat"])
    with pytest.raises(ValueError):
        custom_task(range(10))
    with pytest.raises(ValueError, match="unknown task"):
        get_task("nope")
    with pytest.raises(ValueError, match="not binary"):
        binarize(np.array([1]), "multiclass")
